// Package codebuildaction runs the Build and Test actions of provider CodeBuild on AWS:
// Run starts a build of the action's project with the input artifacts as S3 sources and
// the artifact bucket as the destination of its artifacts, and returns InProgress with
// the build id; the action ends when CodeBuild's Build State Change event reaches the
// events function (functions/events), which records every output artifact at
// <pipeline>/<execution>/<name>.zip, where this package points it: the first declared
// output is the build's primary artifact (the event names it), the others secondary
// artifacts whose identifier is the output's name (read from the build, BatchGetBuilds),
// as under CodePipeline.
//
// The configuration keys are those of the local twin (shared/local/codebuild):
// ProjectName, PrimarySource, EnvironmentVariables; BatchEnabled true is refused.
//
// The build's source version: with an S3 source, CodeBuild's sourceVersion is the
// version id of the source zip, not a commit. Run passes the input artifact's S3 object
// version when its location has one (pinning the bytes the action was given), and names
// the execution's commit in the summary; CODEBUILD_RESOLVED_SOURCE_VERSION inside the
// build is therefore the object version, not the commit as under CodePipeline.
package codebuildaction

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/codebuild"
	"github.com/aws/aws-sdk-go-v2/service/codebuild/types"

	"github.com/relais-ci/relais/shared/action"
	"github.com/relais-ci/relais/shared/aws/console"
	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/gate"
	"github.com/relais-ci/relais/shared/pipeline"
)

// Providers names the action types this package runs, as action.ProviderKey spells them.
var Providers = []string{
	pipeline.CategoryBuild + "/" + pipeline.OwnerAWS + "/CodeBuild",
	pipeline.CategoryTest + "/" + pipeline.OwnerAWS + "/CodeBuild",
}

// Client is the part of *codebuild.Client the Builder calls.
type Client interface {
	StartBuild(ctx context.Context, in *codebuild.StartBuildInput, optFns ...func(*codebuild.Options)) (*codebuild.StartBuildOutput, error)
	StopBuild(ctx context.Context, in *codebuild.StopBuildInput, optFns ...func(*codebuild.Options)) (*codebuild.StopBuildOutput, error)
}

// Builder starts CodeBuild builds for actions. It holds no state: it is safe for
// concurrent use, and any function instance can stop a build another started.
type Builder struct {
	client Client
	bucket string
	prefix string
}

var (
	_ action.Provider = (*Builder)(nil)
	_ gate.Canceler   = (*Builder)(nil)
)

// New returns a Builder whose builds write their artifacts to bucket, under prefix (as
// the artifact store, s3artifact, keeps them; "" for none).
func New(client Client, bucket, prefix string) *Builder {
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return &Builder{client: client, bucket: bucket, prefix: prefix}
}

// Run starts the build and returns InProgress with its id and console link. Problems
// with the action's configuration or inputs fail it at once. The action execution id
// is StartBuild's idempotency token, so a Run repeated within CodeBuild's five minutes
// returns the same build instead of starting another.
func (b *Builder) Run(ctx context.Context, job action.Job) (action.Result, error) {
	in, err := b.input(job)
	if err != nil {
		return action.Failed("ConfigurationError", err), nil
	}
	out, err := b.client.StartBuild(ctx, in)
	if err != nil {
		return action.Failed("JobFailed", fmt.Errorf("start build of project %s: %w", aws.ToString(in.ProjectName), err)), nil
	}
	if out.Build == nil || aws.ToString(out.Build.Id) == "" {
		return action.Result{}, fmt.Errorf("start build of project %s: CodeBuild returned no build id", aws.ToString(in.ProjectName))
	}
	id := aws.ToString(out.Build.Id)
	summary := "Build " + id + " started"
	if rev := sourceRevision(job.Execution); rev != "" {
		summary += " (commit " + rev + ")"
	}
	return action.Result{
		Status:      core.ActionInProgress,
		ExternalID:  id,
		ExternalURL: ConsoleURL(aws.ToString(out.Build.Arn), aws.ToString(in.ProjectName), id),
		Summary:     summary,
	}, nil
}

// input builds the StartBuild request of an action.
func (b *Builder) input(job action.Job) (*codebuild.StartBuildInput, error) {
	rec := job.Record
	cfg := rec.Configuration
	project := cfg["ProjectName"]
	if project == "" {
		return nil, errors.New("configuration ProjectName is required")
	}
	if strings.EqualFold(cfg["BatchEnabled"], "true") {
		return nil, errors.New("BatchEnabled: Relais does not run batch builds (their completion events differ); " +
			"set BatchEnabled to false to run the buildspec as one build")
	}
	in := &codebuild.StartBuildInput{ProjectName: aws.String(project), IdempotencyToken: aws.String(rec.ID)}
	if s := cfg["EnvironmentVariables"]; s != "" {
		env, err := parseEnv(s)
		if err != nil {
			return nil, err
		}
		in.EnvironmentVariablesOverride = env
	}

	var names []string
	for _, a := range job.Declared.InputArtifacts {
		names = append(names, a.Name)
	}
	if len(names) == 0 {
		return nil, errors.New("a CodeBuild action needs at least one input artifact")
	}
	primary := names[0]
	if ps := cfg["PrimarySource"]; ps != "" {
		if !slices.Contains(names, ps) {
			return nil, fmt.Errorf("configuration PrimarySource %s is not one of the input artifacts (%s)", ps, strings.Join(names, ", "))
		}
		primary = ps
	}
	locate := func(name string) (core.ArtifactLocation, error) {
		i := slices.IndexFunc(rec.InputArtifacts, func(a core.Artifact) bool { return a.Name == name })
		if i < 0 {
			return core.ArtifactLocation{}, fmt.Errorf("input artifact %s has no location", name)
		}
		loc := rec.InputArtifacts[i].Location
		if loc.Store == "" || loc.Key == "" {
			return loc, fmt.Errorf("input artifact %s has no S3 location (bucket %q, key %q)", name, loc.Store, loc.Key)
		}
		return loc, nil
	}
	loc, err := locate(primary)
	if err != nil {
		return nil, err
	}
	in.SourceTypeOverride = types.SourceTypeS3
	in.SourceLocationOverride = aws.String(loc.Store + "/" + loc.Key)
	if loc.Version != "" {
		in.SourceVersion = aws.String(loc.Version)
	}
	for _, n := range names {
		if n == primary {
			continue
		}
		if !identifier(n) {
			return nil, fmt.Errorf("input artifact %s cannot be a secondary source: CodeBuild names it CODEBUILD_SRC_DIR_%s, "+
				"so it must be letters, digits and underscores", n, n)
		}
		loc, err := locate(n)
		if err != nil {
			return nil, err
		}
		in.SecondarySourcesOverride = append(in.SecondarySourcesOverride, types.ProjectSource{
			Type: types.SourceTypeS3, Location: aws.String(loc.Store + "/" + loc.Key), SourceIdentifier: aws.String(n),
		})
		if loc.Version != "" {
			in.SecondarySourcesVersionOverride = append(in.SecondarySourcesVersionOverride, types.ProjectSourceVersion{
				SourceIdentifier: aws.String(n), SourceVersion: aws.String(loc.Version),
			})
		}
	}

	outs := job.Declared.OutputArtifacts
	if len(outs) == 0 {
		in.ArtifactsOverride = &types.ProjectArtifacts{Type: types.ArtifactsTypeNoArtifacts}
		return in, nil
	}
	if b.bucket == "" {
		return nil, errors.New("the action has output artifacts but Relais has no artifact bucket")
	}
	// The artifact store's key for the output: <prefix><pipeline>/<execution>/<name>.zip.
	dir := b.prefix + path.Join(rec.PipelineName, rec.ExecutionID)
	for i, o := range outs {
		if i > 0 && !identifier(o.Name) {
			return nil, fmt.Errorf("output artifact %s cannot be a secondary artifact: its name is the buildspec's "+
				"artifact identifier, so it must be letters, digits and underscores", o.Name)
		}
		a := types.ProjectArtifacts{
			Type: types.ArtifactsTypeS3, Location: aws.String(b.bucket), Path: aws.String(dir),
			Name: aws.String(o.Name + ".zip"), NamespaceType: types.ArtifactNamespaceNone,
			Packaging: types.ArtifactPackagingZip,
		}
		if i == 0 {
			in.ArtifactsOverride = &a
			continue
		}
		a.ArtifactIdentifier = aws.String(o.Name)
		in.SecondaryArtifactsOverride = append(in.SecondaryArtifactsOverride, a)
	}
	return in, nil
}

// envVar is one entry of the EnvironmentVariables configuration.
type envVar struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	Type  string `json:"type"`
}

// parseEnv reads the EnvironmentVariables configuration: a JSON array of
// {"name", "value", "type"}, type PLAINTEXT (the default), PARAMETER_STORE or
// SECRETS_MANAGER.
func parseEnv(s string) ([]types.EnvironmentVariable, error) {
	var vars []envVar
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&vars); err != nil {
		return nil, fmt.Errorf("configuration EnvironmentVariables is not a JSON array of {name, value, type}: %w", err)
	}
	out := make([]types.EnvironmentVariable, 0, len(vars))
	for i, v := range vars {
		if v.Name == "" {
			return nil, fmt.Errorf("configuration EnvironmentVariables[%d]: name is required", i)
		}
		t := types.EnvironmentVariableType(v.Type)
		switch t {
		case "":
			t = types.EnvironmentVariableTypePlaintext
		case types.EnvironmentVariableTypePlaintext, types.EnvironmentVariableTypeParameterStore, types.EnvironmentVariableTypeSecretsManager:
		default:
			return nil, fmt.Errorf("configuration EnvironmentVariables[%d] (%s): type %q is not PLAINTEXT, PARAMETER_STORE or SECRETS_MANAGER", i, v.Name, v.Type)
		}
		out = append(out, types.EnvironmentVariable{Name: aws.String(v.Name), Value: aws.String(v.Value), Type: t})
	}
	return out, nil
}

// identifier reports whether s can be a CodeBuild source or artifact identifier.
func identifier(s string) bool {
	if s == "" || len(s) >= 128 {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// sourceRevision is the execution's commit: its first source revision.
func sourceRevision(e core.Execution) string {
	for _, r := range e.SourceRevisions {
		if r.RevisionID != "" {
			return r.RevisionID
		}
	}
	return ""
}

// ConsoleURL is the CodeBuild console page of a build, from its ARN
// (arn:aws:codebuild:<region>:<account>:build/<id>); "" when the ARN cannot be read.
func ConsoleURL(buildARN, project, buildID string) string {
	a, err := arn.Parse(buildARN)
	if err != nil || a.Region == "" || a.AccountID == "" {
		return ""
	}
	host := console.Host(a.Partition, a.Region)
	return fmt.Sprintf("https://%s/codesuite/codebuild/%s/projects/%s/build/%s/?region=%s",
		host, a.AccountID, url.PathEscape(project), url.PathEscape(buildID), a.Region)
}

// CancelAction stops the build of an abandoned action: the one its external id names.
// An action with no build, or whose build CodeBuild no longer knows or has ended, is not
// an error.
func (b *Builder) CancelAction(ctx context.Context, a core.ActionExecution) error {
	if a.ExternalExecutionID == "" || !slices.Contains(Providers, a.Type.Category+"/"+a.Type.Owner+"/"+a.Type.Provider) {
		return nil
	}
	_, err := b.client.StopBuild(ctx, &codebuild.StopBuildInput{Id: aws.String(a.ExternalExecutionID)})
	var nf *types.ResourceNotFoundException
	if errors.As(err, &nf) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stop build %s of action %s: %w", a.ExternalExecutionID, a.ActionName, err)
	}
	return nil
}
