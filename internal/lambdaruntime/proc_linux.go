package lambdaruntime

import (
	"os"
	"syscall"
)

// sysProcAttr puts the bootstrap in its own process group, so a kill takes
// its children too, and has the kernel kill it if the runner dies, so no
// orphan outlives a crashed runner.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

func killProcess(p *os.Process) {
	if p == nil {
		return
	}
	_ = syscall.Kill(-p.Pid, syscall.SIGKILL)
	_ = p.Kill()
}
