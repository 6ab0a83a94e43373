// Package serve assembles the local runtime of Relais — what `relais serve` runs — from
// the local adapters and the shared services: SQLite stores, artifacts in a folder, the
// ASL interpreter (checkpointed in SQLite) running the compiled machines, the gate,
// action, approval and execution services, and the local action providers.
//
// Layout of the data dir:
//
//	relais.db      pipelines, executions, stages, actions, locks, queues, approvals…
//	engine.db      the interpreter's executions and histories
//	artifacts/     artifact zips, <pipeline>/<execution>/<artifact>.zip
//	buckets/       S3 deploy targets and S3 sources, a folder per bucket
//	builds/        build workspaces
package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/relais-ci/relais/shared/action"
	"github.com/relais-ci/relais/shared/approval"
	"github.com/relais-ci/relais/shared/asl"
	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/execution"
	"github.com/relais-ci/relais/shared/gate"
	"github.com/relais-ci/relais/shared/local/aslengine"
	"github.com/relais-ci/relais/shared/local/aslstore"
	"github.com/relais-ci/relais/shared/local/fileartifact"
	"github.com/relais-ci/relais/shared/local/sqlitestore"
	"github.com/relais-ci/relais/shared/pipeline"
)

// Config configures a local runtime.
type Config struct {
	// DataDir holds everything the runtime keeps (created if missing).
	DataDir string
	// Sources says where the local providers find repositories, Lambda stand-ins and
	// build projects.
	Sources Sources
	// Providers, when set, replace the local providers (tests), by action.ProviderKey.
	// Manual approval is always provided by the runtime's approval service.
	Providers map[string]action.Provider
	// Canceler ends the work of abandoned actions run by Providers (optional).
	Canceler gate.Canceler
	// Notifier tells people about approvals (optional).
	Notifier core.Notifier
	// ApprovalLinks signs the approve/reject links put in approval requests (optional;
	// the pages behind them are package approval/web's).
	ApprovalLinks *approval.Links
	// Approvers each get their own approval request and links (optional).
	Approvers []string
	Clock     core.Clock
	// EngineClock drives the interpreter's waits and timeouts (default: real time).
	EngineClock asl.Clock
	Logger      *slog.Logger
}

// Runtime is a running local Relais.
type Runtime struct {
	Store      *sqlitestore.Store
	Artifacts  *fileartifact.Store
	Interp     *asl.Engine
	Engine     *aslengine.Engine
	Gate       *gate.Service
	Actions    *action.Service
	Approvals  *approval.Service
	Executions *execution.Service

	engineStore *aslstore.Store
	local       *localProviders
}

// Open builds the runtime over cfg.DataDir and resumes every execution an earlier
// process left running. Install pipelines with Executions.Install.
func Open(ctx context.Context, cfg Config) (*Runtime, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Clock == nil {
		cfg.Clock = core.SystemClock
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	r := &Runtime{}
	var err error
	fail := func(e error) (*Runtime, error) {
		r.Close()
		return nil, e
	}
	if r.Store, err = sqlitestore.Open(ctx, filepath.Join(cfg.DataDir, "relais.db"), sqlitestore.WithClock(cfg.Clock)); err != nil {
		return fail(err)
	}
	if r.Artifacts, err = fileartifact.New(filepath.Join(cfg.DataDir, "artifacts")); err != nil {
		return fail(err)
	}
	if r.engineStore, err = aslstore.Open(ctx, filepath.Join(cfg.DataDir, "engine.db")); err != nil {
		return fail(err)
	}
	r.Interp = asl.New(asl.Options{Store: r.engineStore, Clock: cfg.EngineClock, Logger: cfg.Logger})

	r.Engine = aslengine.New(r.Interp)
	r.Gate = gate.New(gate.Deps{
		Executions: r.Store, Stages: r.Store, Actions: r.Store, Locks: r.Store, Queue: r.Store,
		Transitions: r.Store, Engine: r.Engine, Clock: cfg.Clock, Logger: cfg.Logger,
	})
	r.Approvals = approval.New(approval.Deps{Approvals: r.Store, Actions: r.Store, Executions: r.Store,
		Notifier: cfg.Notifier, Links: cfg.ApprovalLinks, Approvers: cfg.Approvers, Clock: cfg.Clock, Logger: cfg.Logger})
	providers := map[string]action.Provider{}
	if cfg.Providers == nil {
		r.local = newLocalProviders(cfg.DataDir, r.Artifacts, cfg.Sources, cfg.Clock, cfg.Logger)
		cfg.Providers, cfg.Canceler = r.local.byKey, r.local
	}
	for k, p := range cfg.Providers {
		providers[k] = p
	}
	providers[action.ProviderKey(pipeline.ActionTypeID{Category: pipeline.CategoryApproval, Owner: pipeline.OwnerAWS, Provider: "Manual"})] = r.Approvals
	r.Actions = action.New(action.Deps{
		Pipelines: r.Store, Executions: r.Store, Stages: r.Store, Actions: r.Store, Engine: r.Engine,
		Providers: providers, Clock: cfg.Clock, Logger: cfg.Logger,
	})
	r.Approvals.Completer = r.Actions
	r.Executions = execution.New(execution.Deps{
		Pipelines: r.Store, Executions: r.Store, Stages: r.Store, Actions: r.Store, Transitions: r.Store,
		Engine: r.Engine, Gate: r.Gate, Canceler: cfg.Canceler, Target: pipeline.TargetLocal,
		Clock: cfg.Clock, Logger: cfg.Logger,
	})
	// Register the task functions now that the services exist; resumed executions call them.
	r.Engine.Serve(aslengine.Handlers{Gate: r.Gate.Handle, Action: r.Actions.Handle})
	if err := r.Interp.Resume(ctx); err != nil {
		return fail(fmt.Errorf("resume engine: %w", err))
	}
	if err := r.Executions.Reconcile(ctx); err != nil {
		cfg.Logger.WarnContext(ctx, "reconcile executions", "err", err)
	}
	// Builds died with the previous process; the engine still waits for their callbacks.
	if err := r.Actions.Resume(ctx); err != nil {
		cfg.Logger.WarnContext(ctx, "resume interrupted actions", "err", err)
	}
	return r, nil
}

// Close stops the interpreter (running executions stay checkpointed, to resume on the
// next Open) and closes the stores.
func (r *Runtime) Close() error {
	if r.Interp != nil {
		r.Interp.Close()
	}
	var errs []error
	if r.local != nil {
		errs = append(errs, r.local.Shutdown(context.Background()))
	}
	if r.engineStore != nil {
		errs = append(errs, r.engineStore.Close())
	}
	if r.Artifacts != nil {
		errs = append(errs, r.Artifacts.Close())
	}
	if r.Store != nil {
		errs = append(errs, r.Store.Close())
	}
	return errors.Join(errs...)
}
