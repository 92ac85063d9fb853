package moto

import "syscall"

// sysProcAttr puts the watchdog and moto_server in their own process group,
// so Stop kills both, and asks the kernel to kill the watchdog if the test
// binary dies.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
