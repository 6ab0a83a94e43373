package asl

// The intrinsic package (shared/asl/intrinsic) is written by another engineer; this file is
// the one place that adapts to its API.

import "strings"

type intrinsicCall interface {
	eval(in, ctx any) (any, error)
}

func isIntrinsic(s string) bool { return strings.HasPrefix(strings.TrimSpace(s), "States.") }

func parseIntrinsic(s string) (intrinsicCall, error) {
	return pendingIntrinsic(s), nil
}

type pendingIntrinsic string

func (p pendingIntrinsic) eval(in, ctx any) (any, error) {
	return nil, NewError(ErrNameIntrinsicFailure, "intrinsic functions are not available yet: %s", string(p))
}
