package asl

// This file is the one place that adapts to the intrinsic package's API.

import (
	"errors"

	"github.com/relais-ci/relais/shared/asl/intrinsic"
	"github.com/relais-ci/relais/shared/asl/jsonpath"
)

type intrinsicCall interface {
	eval(in, ctx any) (any, error)
}

func isIntrinsic(s string) bool { return intrinsic.IsIntrinsic(s) }

func parseIntrinsic(s string) (intrinsicCall, error) {
	c, err := intrinsic.Parse(s)
	if err != nil {
		return nil, err
	}
	return call{c}, nil
}

type call struct{ c *intrinsic.Call }

// eval maps the intrinsic package's errors to States errors: misuse of a function is
// States.IntrinsicFailure, a path argument that selects nothing is States.Runtime.
func (c call) eval(in, ctx any) (any, error) {
	v, err := c.c.Eval(intrinsic.Env{Input: in, Context: ctx})
	switch {
	case err == nil:
		return v, nil
	case errors.Is(err, jsonpath.ErrNoMatch):
		return nil, &Error{Name: ErrNameRuntime, Cause: err.Error()}
	default:
		return nil, &Error{Name: ErrNameIntrinsicFailure, Cause: err.Error()}
	}
}
