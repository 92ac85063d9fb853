//go:build unix && !linux

package motoserver

import "syscall"

// sysProcAttr puts the watchdog and moto_server in their own process group,
// so Close kills both.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
