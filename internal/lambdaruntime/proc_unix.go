//go:build unix && !linux

package lambdaruntime

import (
	"os"
	"syscall"
)

// sysProcAttr puts the bootstrap in its own process group, so a kill takes
// its children too.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

func killProcess(p *os.Process) {
	if p == nil {
		return
	}
	_ = syscall.Kill(-p.Pid, syscall.SIGKILL)
	_ = p.Kill()
}
