package serve

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"

	"github.com/relais-ci/relais/shared/action"
	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/local/buildrunner"
	"github.com/relais-ci/relais/shared/local/codebuild"
	"github.com/relais-ci/relais/shared/local/gitsource"
	"github.com/relais-ci/relais/shared/local/lambdainvoke"
	"github.com/relais-ci/relais/shared/local/s3deploy"
	"github.com/relais-ci/relais/shared/local/s3source"
)

// Sources says where the local providers find what AWS would hold.
type Sources struct {
	// Repos maps a repository ("owner/name", as FullRepositoryId names it) to a local git
	// repository.
	Repos map[string]string
	// Lambdas maps a Lambda function name to the executable that stands in for it.
	Lambdas map[string]string
	// Projects maps a CodeBuild project name to its local settings.
	Projects map[string]codebuild.Project
	// Secrets resolves parameter-store and secrets-manager references of builds.
	Secrets buildrunner.SecretResolver
}

// localProviders are the providers of every action type Relais runs on one machine.
type localProviders struct {
	byKey    map[string]action.Provider
	builds   *codebuild.Builder
	invokers *lambdainvoke.Invoker
}

func newLocalProviders(dataDir string, artifacts core.ArtifactStore, src Sources, clock core.Clock, logger *slog.Logger) *localProviders {
	buckets := filepath.Join(dataDir, "buckets")
	git := gitsource.New(artifacts, src.Repos, logger)
	builds := codebuild.New(codebuild.Deps{
		Artifacts: artifacts, Projects: src.Projects, Secrets: src.Secrets,
		DataDir: dataDir, Clock: clock, Logger: logger,
	})
	invokers := lambdainvoke.New(lambdainvoke.Deps{Artifacts: artifacts, Functions: src.Lambdas, DataDir: dataDir, Logger: logger})
	return &localProviders{
		builds:   builds,
		invokers: invokers,
		byKey: map[string]action.Provider{
			"Source/AWS/CodeStarSourceConnection": git,
			"Source/ThirdParty/GitHub":            git,
			"Source/AWS/S3":                       s3source.New(artifacts, buckets, logger),
			"Build/AWS/CodeBuild":                 builds,
			"Test/AWS/CodeBuild":                  builds,
			"Deploy/AWS/S3":                       s3deploy.New(artifacts, buckets, logger),
			"Invoke/AWS/Lambda":                   invokers,
		},
	}
}

// CancelAction ends the work of an abandoned action, whichever provider runs it.
func (p *localProviders) CancelAction(ctx context.Context, a core.ActionExecution) error {
	switch a.Type.Category + "/" + a.Type.Provider {
	case "Build/CodeBuild", "Test/CodeBuild":
		return p.builds.CancelAction(ctx, a)
	case "Invoke/Lambda":
		return p.invokers.CancelAction(ctx, a)
	}
	return nil
}

// Shutdown stops running builds and invocations.
func (p *localProviders) Shutdown(ctx context.Context) error {
	return errors.Join(p.builds.Shutdown(ctx))
}
