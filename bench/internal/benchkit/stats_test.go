package benchkit

import (
	"testing"
	"time"
)

func TestQuantile(t *testing.T) {
	hundred := make([]float64, 100)
	for i := range hundred {
		hundred[i] = float64(100 - i) // 100..1, unsorted
	}
	for _, tt := range []struct {
		name string
		xs   []float64
		q    float64
		want float64
	}{
		{"empty", nil, 0.5, 0},
		{"one", []float64{7}, 0.99, 7},
		{"p50 of 1..100", hundred, 0.5, 50},
		{"p99 of 1..100", hundred, 0.99, 99},
		{"p100 of 1..100", hundred, 1, 100},
		{"tiny q is the minimum", hundred, 0.001, 1},
		{"p99 of 3 is the max", []float64{3, 1, 2}, 0.99, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := Quantile(tt.xs, tt.q); got != tt.want {
				t.Errorf("Quantile(%v, %v) = %v, want %v", tt.xs, tt.q, got, tt.want)
			}
		})
	}
}

func TestMedianLeavesInputAlone(t *testing.T) {
	for _, tt := range []struct {
		xs   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{5}, 5},
		{[]float64{9, 1, 5}, 5},
		{[]float64{4, 1, 3, 2}, 2.5},
	} {
		in := append([]float64(nil), tt.xs...)
		if got := Median(tt.xs); got != tt.want {
			t.Errorf("Median(%v) = %v, want %v", tt.xs, got, tt.want)
		}
		for i := range in {
			if in[i] != tt.xs[i] {
				t.Fatalf("Median reordered its input: %v", tt.xs)
			}
		}
	}
}

func TestMillis(t *testing.T) {
	got := Millis([]time.Duration{1500 * time.Microsecond, 2 * time.Second})
	if len(got) != 2 || got[0] != 1.5 || got[1] != 2000 {
		t.Errorf("Millis = %v", got)
	}
}

func TestBuildPackageRefusesUnsafeArguments(t *testing.T) {
	for _, tt := range []struct{ name, pkg string }{
		{"ok", "./x; rm -rf /"},
		{"ok", "./$(shell id)"},
		{"a:b", "./bench/minimal"},
		{"a/b", "./bench/minimal"},
	} {
		if _, err := BuildPackage(t.Context(), t.TempDir(), t.TempDir(), tt.name, tt.pkg); err == nil {
			t.Errorf("BuildPackage(%q, %q) ran make", tt.name, tt.pkg)
		}
	}
}
