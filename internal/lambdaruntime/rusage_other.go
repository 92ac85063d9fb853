//go:build !linux

package lambdaruntime

import "os"

// peakRSS is 0: ru_maxrss has a different unit on every other platform,
// and only Linux is what Lambda runs.
func peakRSS(*os.ProcessState) int64 { return 0 }
