//go:build unix && !linux

package motoserver

import (
	"os/exec"
	"syscall"
)

// sysProcAttr puts moto_server in its own process group (the pyenv shim and
// Python may fork).
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

func killGroup(cmd *exec.Cmd) {
	if cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	_ = cmd.Process.Kill()
}
