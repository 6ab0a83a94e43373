package asl

// This file is the one place that adapts to the choice package's API.

import (
	"errors"
	"regexp"
	"strings"

	"github.com/relais-ci/relais/shared/asl/choice"
)

type choiceEvaluator interface {
	Eval(input, context any) (bool, error)
}

var choiceIndexRE = regexp.MustCompile(`\[(\d+)\]`)

// choicePointer turns the choice package's "And[0].Variable" into "/And/0/Variable".
func choicePointer(loc string) string {
	if loc == "" {
		return ""
	}
	loc = choiceIndexRE.ReplaceAllString(loc, ".$1")
	return "/" + strings.ReplaceAll(strings.TrimPrefix(loc, "."), ".", "/")
}

func (p *parser) choiceRule(raw map[string]any, loc string) choiceEvaluator {
	if _, ok := raw["Assign"]; ok {
		p.add(loc+"/Assign", CodeUnsupported, "field \"Assign\" (variables) is not supported by this interpreter")
		delete(raw, "Assign")
	}
	r, err := choice.Parse(raw, "")
	if err != nil {
		var ve *choice.ValidationError
		if errors.As(err, &ve) {
			for _, pr := range ve.Problems {
				code := CodeInvalidChoice
				if strings.Contains(pr.Msg, "missing Next") {
					code = CodeMissingTarget
				}
				p.add(loc+choicePointer(pr.Loc), code, "%s", pr.Msg)
			}
		} else {
			p.add(loc, CodeInvalidChoice, "%v", err)
		}
		return nil
	}
	return r
}
