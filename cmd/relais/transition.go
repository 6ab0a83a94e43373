package main

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
)

// defaultDisableReason is the reason recorded when `transition disable` is given none
// (CodePipeline requires one).
const defaultDisableReason = "Disabled with the relais CLI"

// runTransition enables or disables the inbound transition of a stage: while it is
// disabled, executions wait before the stage.
func runTransition(ctx context.Context, args []string, s stdio) int {
	fs := newFlagSet(s, "transition", "transition enable|disable [flags] PIPELINE STAGE")
	cf := addClientFlags(fs)
	reason := fs.String("reason", "", "with disable: why (letters, digits, spaces and !@().*?- only, as CodePipeline requires)")
	pos, code, ok := parseCommand(fs, args, 3, 3)
	if !ok {
		return code
	}
	verb, name, stage := pos[0], pos[1], pos[2]
	if verb != "enable" && verb != "disable" {
		fmt.Fprintf(s.err, "relais transition: %q: want enable or disable\n", verb)
		fs.Usage()
		return 2
	}
	if verb == "enable" && *reason != "" {
		fmt.Fprintln(s.err, "relais transition: --reason goes with disable")
		return 2
	}
	c, err := cf.client()
	if err != nil {
		fmt.Fprintf(s.err, "relais transition: %v\n", err)
		return 2
	}
	if verb == "enable" {
		_, err = c.EnableStageTransition(ctx, &codepipeline.EnableStageTransitionInput{
			PipelineName: aws.String(name), StageName: aws.String(stage), TransitionType: types.StageTransitionTypeInbound,
		})
	} else {
		why := *reason
		if why == "" {
			why = defaultDisableReason
		}
		_, err = c.DisableStageTransition(ctx, &codepipeline.DisableStageTransitionInput{
			PipelineName: aws.String(name), StageName: aws.String(stage), TransitionType: types.StageTransitionTypeInbound, Reason: aws.String(why),
		})
	}
	if err != nil {
		return apiFailed(s, "transition", err)
	}
	fmt.Fprintf(s.out, "Transition into %s/%s %sd\n", name, stage, verb)
	return 0
}
