package lambdaruntime

import "testing"

// TestPeakRSS checks that an environment's peak RSS is recorded when the
// runner stops it, so benchmarks can report it.
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
	// Any Go process has more than 1 MiB resident; a value in kB taken
	// as bytes would be far below it.
	if len(got) != 1 || got[0] < 1<<20 {
		t.Fatalf("PeakRSS = %v, want one value above 1 MiB", got)
	}
}

func TestParseVmHWM(t *testing.T) {
	for _, tt := range []struct {
		name   string
		status string
		want   int64
		ok     bool
	}{
		{"typical", "Name:\tbootstrap\nVmPeak:\t 1251212 kB\nVmHWM:\t    7316 kB\nVmRSS:\t    7316 kB\n", 7316 * 1024, true},
		{"missing", "Name:\tbootstrap\nVmRSS:\t    7316 kB\n", 0, false},
		{"no unit", "VmHWM:\t7316\n", 0, false},
		{"other unit", "VmHWM:\t7316 MB\n", 0, false},
		{"not a number", "VmHWM:\tlots kB\n", 0, false},
		{"negative", "VmHWM:\t-5 kB\n", 0, false},
		{"overflows in bytes", "VmHWM:\t9223372036854775807 kB\n", 0, false},
		{"empty", "", 0, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseVmHWM([]byte(tt.status))
			if got != tt.want || ok != tt.ok {
				t.Errorf("parseVmHWM = %d, %v; want %d, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func FuzzParseVmHWM(f *testing.F) {
	f.Add([]byte("VmHWM:\t    7316 kB\n"))
	f.Add([]byte("VmHWM: 9223372036854775807 kB"))
	f.Fuzz(func(t *testing.T, status []byte) {
		if n, ok := parseVmHWM(status); ok && n < 0 {
			t.Fatalf("negative size %d", n)
		}
	})
}
