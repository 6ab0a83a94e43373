package proc

import (
	"errors"
	"os/exec"
	"runtime"
	"syscall"
	"testing"
)

func TestKillGroupKillsGrandchildren(t *testing.T) {
	cmd := exec.Command("sh", "-c", "sleep 60 & sleep 60; wait")
	cmd.SysProcAttr = Attr()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := KillGroup(cmd.Process.Pid); err != nil {
		t.Fatalf("kill group: %v", err)
	}
	err := cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("got %v, want the shell killed by SIGKILL", err)
	}
	if err := syscall.Kill(-cmd.Process.Pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("the group still has members after KillGroup: %v", err)
	}
	if runtime.GOOS == "linux" && Attr().Pdeathsig != syscall.SIGKILL {
		t.Error("on Linux a work process must die with Relais")
	}
}
