package difftest

import "testing"

func runRelais(t *testing.T, c namedCase) outcome {
	t.Skip("waiting for the shared/asl Engine API")
	return outcome{}
}
