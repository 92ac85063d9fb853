//go:build !unix

package lambdaruntime

import (
	"os"
	"syscall"
)

func sysProcAttr() *syscall.SysProcAttr { return nil }

func killProcess(p *os.Process) {
	if p != nil {
		_ = p.Kill()
	}
}
