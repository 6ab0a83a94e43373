//go:build unix

package awse2e

import (
	"os"
	"syscall"
)

// freeze stops a process between invocations, as Lambda freezes an execution
// environment once its runtime asks for the next invocation: nothing a function left
// running in the background goes on until it is invoked again.
func freeze(p *os.Process) { _ = p.Signal(syscall.SIGSTOP) }

// thaw lets a frozen process run again.
func thaw(p *os.Process) { _ = p.Signal(syscall.SIGCONT) }
