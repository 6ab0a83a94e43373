package main

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/codebuild"
)

// BuildReader reads the variables a finished build exported (its buildspec's
// env.exported-variables), which the build state change event does not carry.
type BuildReader interface {
	ExportedVariables(ctx context.Context, buildID string) (map[string]string, error)
}

// BuildsClient is the part of *codebuild.Client Builds calls.
type BuildsClient interface {
	BatchGetBuilds(ctx context.Context, in *codebuild.BatchGetBuildsInput, optFns ...func(*codebuild.Options)) (*codebuild.BatchGetBuildsOutput, error)
}

// Builds reads builds from CodeBuild.
type Builds struct{ Client BuildsClient }

var _ BuildReader = Builds{}

// ExportedVariables returns the variables buildID exported; none for a build CodeBuild
// no longer knows.
func (b Builds) ExportedVariables(ctx context.Context, buildID string) (map[string]string, error) {
	out, err := b.Client.BatchGetBuilds(ctx, &codebuild.BatchGetBuildsInput{Ids: []string{buildID}})
	if err != nil {
		return nil, fmt.Errorf("get build %s: %w", buildID, err)
	}
	vars := map[string]string{}
	for _, build := range out.Builds {
		for _, v := range build.ExportedEnvironmentVariables {
			if v.Name != nil && v.Value != nil {
				vars[*v.Name] = *v.Value
			}
		}
	}
	return vars, nil
}
