//go:build !unix

package motoserver

import (
	"io"
	"os/exec"
)

// command runs moto_server directly: no watchdog outside Unix.
func command(path string, args ...string) (*exec.Cmd, io.Closer, error) {
	return exec.Command(path, args...), nopCloser{}, nil
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

func killGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = cmd.Process.Kill()
	}
}
