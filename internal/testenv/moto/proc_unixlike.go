package moto

import (
	"os/exec"
	"syscall"
)

// sysProcAttr puts moto_server in its own process group (the pyenv shim and
// Python may fork) and has the kernel kill it if the test binary dies
// without running Cleanup.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

func killGroup(cmd *exec.Cmd) {
	if cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	_ = cmd.Process.Kill()
}
