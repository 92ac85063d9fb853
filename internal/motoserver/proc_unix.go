//go:build unix

package motoserver

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
)

// watchdog runs moto_server ($0) and kills it when its stdin reaches EOF,
// which happens when our process exits by any means (a panic, a test
// -timeout, SIGKILL) and the kernel closes the pipe's write end. Close
// cannot run then, and PR_SET_PDEATHSIG is not delivered in every sandbox.
// Only shell builtins are used, so it works whatever PATH is. The explicit
// <&3 matters: a background list's stdin is /dev/null otherwise.
const watchdog = `exec 3<&0
"$0" "$@" </dev/null &
child=$!
(while read -r _; do :; done; kill -9 $child 2>/dev/null) <&3 >/dev/null 2>&1 &
watcher=$!
exec 3<&-
wait $child
status=$?
kill $watcher 2>/dev/null
exit $status`

// command returns the command that runs moto_server under the watchdog, in
// its own process group (the pyenv shim and Python may fork), and the pipe
// end our process keeps open.
func command(path string, args ...string) (*exec.Cmd, io.Closer, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, fmt.Errorf("watchdog pipe: %w", err)
	}
	cmd := exec.Command("/bin/sh", append([]string{"-c", watchdog, path}, args...)...)
	cmd.Stdin = r
	cmd.SysProcAttr = sysProcAttr()
	return cmd, w, nil
}

func killGroup(cmd *exec.Cmd) {
	if cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	_ = cmd.Process.Kill()
}
