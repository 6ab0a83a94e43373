// Package proc holds how Relais starts the local processes that do an action's work
// (build shells, Lambda stand-ins): each in its own process group, so that a stop, a
// timeout or a cancellation can kill everything it started, grandchildren included.
package proc

import "syscall"

// Attr returns the process attributes of a work process: a new process group and, where
// the system allows it, death with Relais — a `relais serve` killed outright must not
// leave builds running that nobody will read (they run again when it restarts).
func Attr() *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Setpgid: true}
	setParentDeathSignal(a)
	return a
}

// KillGroup kills the process group led by pid.
func KillGroup(pid int) error { return syscall.Kill(-pid, syscall.SIGKILL) }
