package lambdaruntime

import (
	"bufio"
	"bytes"
	"math"
	"os"
	"strconv"
)

// peakRSS reads the process's peak resident set size in bytes (VmHWM in
// /proc/<pid>/status). getrusage's ru_maxrss is no substitute: Linux
// carries the parent's high-water mark over exec when the child was
// started with vfork semantics, as Go's os/exec does.
func peakRSS(pid int) (int64, bool) {
	status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, false
	}
	return parseVmHWM(status)
}

// parseVmHWM finds "VmHWM:   1234 kB" in a /proc/<pid>/status text.
func parseVmHWM(status []byte) (int64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		rest, ok := bytes.CutPrefix(sc.Bytes(), []byte("VmHWM:"))
		if !ok {
			continue
		}
		fields := bytes.Fields(rest)
		if len(fields) != 2 || string(fields[1]) != "kB" {
			return 0, false
		}
		kb, err := strconv.ParseInt(string(fields[0]), 10, 64)
		if err != nil || kb < 0 || kb > math.MaxInt64/1024 {
			return 0, false
		}
		return kb * 1024, true
	}
	return 0, false
}
