//go:build !linux

package lambdaruntime

// peakRSS is unknown outside Linux (the only system Lambda runs).
func peakRSS(int) (int64, bool) { return 0, false }
