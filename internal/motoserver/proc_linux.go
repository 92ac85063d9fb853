package motoserver

import "syscall"

// sysProcAttr puts the watchdog and moto_server in their own process group,
// so Close kills both, and asks the kernel to kill the watchdog if our
// process dies.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
