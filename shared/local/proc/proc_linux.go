package proc

import "syscall"

// setParentDeathSignal asks Linux to kill the process when the thread that started it
// ends — in a Go program, in practice, when Relais dies.
func setParentDeathSignal(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
