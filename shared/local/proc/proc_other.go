//go:build !linux

package proc

import "syscall"

// setParentDeathSignal does nothing where the system has no parent-death signal.
func setParentDeathSignal(*syscall.SysProcAttr) {}
