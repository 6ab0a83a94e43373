package main

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codebuild"

	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/pipeline"
)

// BuildReader reads what a finished build produced: its output artifacts (the build
// state change event names the primary one only) and the variables its buildspec
// exported.
type BuildReader interface {
	ReadBuild(ctx context.Context, buildID string) (BuildOutputs, error)
}

// BuildOutputs are what a build produced.
type BuildOutputs struct {
	// Artifacts are the primary artifact, then the secondary ones, each named as the
	// action's output artifact it is (see artifact).
	Artifacts []core.Artifact
	Variables map[string]string
}

// BuildsClient is the part of *codebuild.Client Builds calls.
type BuildsClient interface {
	BatchGetBuilds(ctx context.Context, in *codebuild.BatchGetBuildsInput, optFns ...func(*codebuild.Options)) (*codebuild.BatchGetBuildsOutput, error)
}

// Builds reads builds from CodeBuild.
type Builds struct{ Client BuildsClient }

var _ BuildReader = Builds{}

// ReadBuild returns what buildID produced; nothing for a build CodeBuild no longer
// knows.
func (b Builds) ReadBuild(ctx context.Context, buildID string) (BuildOutputs, error) {
	out, err := b.Client.BatchGetBuilds(ctx, &codebuild.BatchGetBuildsInput{Ids: []string{buildID}})
	if err != nil {
		return BuildOutputs{}, fmt.Errorf("get build %s: %w", buildID, err)
	}
	var res BuildOutputs
	for _, build := range out.Builds {
		if build.Artifacts != nil {
			if a, ok := artifact(aws.ToString(build.Artifacts.Location), ""); ok {
				res.Artifacts = append(res.Artifacts, a)
			}
		}
		for _, s := range build.SecondaryArtifacts {
			if a, ok := artifact(aws.ToString(s.Location), aws.ToString(s.ArtifactIdentifier)); ok {
				res.Artifacts = append(res.Artifacts, a)
			}
		}
		for _, v := range build.ExportedEnvironmentVariables {
			if v.Name != nil && v.Value != nil {
				if res.Variables == nil {
					res.Variables = map[string]string{}
				}
				res.Variables[*v.Name] = *v.Value
			}
		}
	}
	return res, nil
}

// OutputLister lists the output artifacts an action waiting for a build declares.
type OutputLister interface {
	// DeclaredOutputs returns the names of the output artifacts the action whose
	// external id is externalID declares, in order; core.ErrNotFound when no action has
	// that external id.
	DeclaredOutputs(ctx context.Context, externalID string) ([]string, error)
}

// Declarations returns installed pipelines' declarations (*action.Service).
type Declarations interface {
	Declaration(ctx context.Context, name string) (*pipeline.Declaration, error)
}

// Outputs finds an action by its external id and reads its outputs in its pipeline's
// declaration.
type Outputs struct {
	Actions      core.ActionStore
	Declarations Declarations
}

var _ OutputLister = Outputs{}

// DeclaredOutputs implements OutputLister.
func (o Outputs) DeclaredOutputs(ctx context.Context, externalID string) ([]string, error) {
	rec, err := o.Actions.FindActionByExternalID(ctx, externalID)
	if err != nil {
		return nil, fmt.Errorf("find action of %s: %w", externalID, err)
	}
	d, err := o.Declarations.Declaration(ctx, rec.PipelineName)
	if err != nil {
		return nil, fmt.Errorf("declaration of pipeline %s: %w", rec.PipelineName, err)
	}
	for _, st := range d.Stages {
		if st.Name != rec.StageName {
			continue
		}
		for _, a := range st.Actions {
			if a.Name == rec.ActionName {
				var names []string
				for _, out := range a.OutputArtifacts {
					names = append(names, out.Name)
				}
				return names, nil
			}
		}
	}
	// The pipeline was changed under the execution: no longer declared.
	return nil, nil
}
