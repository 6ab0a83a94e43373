//go:build !unix

package awse2e

import "os"

// freeze does nothing where processes cannot be stopped.
func freeze(*os.Process) {}

// thaw does nothing where processes cannot be stopped.
func thaw(*os.Process) {}
