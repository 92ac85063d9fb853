package lambdaruntime

import "testing"

// TestPeakRSS checks that every environment's peak RSS is recorded once it
// has exited, so benchmarks can report it.
func TestPeakRSS(t *testing.T) {
	f, _ := newTestFunction(t, nil)
	if res, _ := invoke(t, f, `{"action":"echo","text":"one"}`); res.Error != nil {
		t.Fatal(res.Error)
	}
	if got := f.Stats().PeakRSS; len(got) != 0 {
		t.Fatalf("PeakRSS = %v while the environment runs, want none", got)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	got := f.Stats().PeakRSS
	// Any Go process maps more than 1 MiB; ru_maxrss in KiB taken as
	// bytes would be far below it.
	if len(got) != 1 || got[0] < 1<<20 {
		t.Fatalf("PeakRSS = %v, want one value above 1 MiB", got)
	}
}
