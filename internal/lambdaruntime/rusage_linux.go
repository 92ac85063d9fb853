package lambdaruntime

import (
	"os"
	"syscall"
)

// peakRSS is the exited process's peak resident set size in bytes
// (getrusage's ru_maxrss, which Linux reports in KiB).
func peakRSS(ps *os.ProcessState) int64 {
	if ps == nil {
		return 0
	}
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return ru.Maxrss * 1024
	}
	return 0
}
