package main

import (
	"bytes"
	"strings"
	"testing"
)

const sample = `goos: linux
goarch: amd64
pkg: github.com/okta-token-revoker/okta-token-revoker/bench/coldstart
cpu: Intel(R) Xeon(R) Processor
BenchmarkColdStart/function=minimal-2         	       7	   2718141 ns/op	         5.996 binary-MB	         2.573 first-response-ms
BenchmarkColdStart/function=okta-hook-2       	       7	   7700985 ns/op	         9.879 binary-MB	         7.826 first-response-ms	         3.042 x-floor
BenchmarkColdStart/function=okta-hook-2       	       7	   7700985 ns/op	         9.879 binary-MB	         8.826 first-response-ms	         3.442 x-floor
BenchmarkColdStart/function=okta-hook-2       	       7	   7700985 ns/op	         9.879 binary-MB	         9.826 first-response-ms	         3.842 x-floor
PASS
goos: linux
goarch: amd64
pkg: github.com/okta-token-revoker/okta-token-revoker/bench/drain
BenchmarkDrain/K=1/client=okta-2         	       1	20328686390 ns/op	         0 429-share	         0.9197 bucket-share
--- BENCH: BenchmarkDrain/K=1/client=okta-2
    bench_test.go:86: window 0: idle before 0s
BenchmarkSingle 	     100	      10.5 ns/op
BenchmarkDrain/K=4/client=okta-2         	SDK 2026/11/23 08:47:46 WARN failed to discard remaining HTTP response body
       1	20328686390 ns/op	         0 429-share	         0.5 bucket-share
ok  	github.com/okta-token-revoker/okta-token-revoker/bench/drain	134.576s
`

func TestParse(t *testing.T) {
	rep, err := Parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Failures) != 0 {
		t.Errorf("failures %v", rep.Failures)
	}
	if got := strings.Join(rep.Context, "|"); got != "goos: linux|goarch: amd64|cpu: Intel(R) Xeon(R) Processor" {
		t.Errorf("context %q", got)
	}
	if len(rep.Tables) != 3 || rep.Tables[0].Name != "ColdStart" || rep.Tables[1].Name != "Drain" || rep.Tables[2].Name != "Single" {
		t.Fatalf("tables %+v", rep.Tables)
	}
	if rows := rep.Tables[1].Rows; len(rows) != 2 || rows[1].Name != "K=4/client=okta" || rows[1].Samples["bucket-share"][0] != 0.5 {
		t.Errorf("a result printed after a log line is lost: %+v", rows)
	}
	cold := rep.Tables[0]
	if len(cold.Rows) != 2 || cold.Rows[1].Name != "function=okta-hook" || len(cold.Rows[1].Samples["first-response-ms"]) != 3 {
		t.Fatalf("rows %+v", cold.Rows)
	}
	if got := strings.Join(cold.Columns(), ","); got != "first-response-ms,x-floor,binary-MB" {
		t.Errorf("columns %s", got)
	}
	if got := strings.Join(rep.Tables[1].Columns(), ","); got != "bucket-share,429-share" {
		t.Errorf("drain columns %s", got)
	}
	if cols := rep.Tables[2].Columns(); len(cols) != 0 {
		t.Errorf("ns/op is not a column: %v", cols)
	}

	var out bytes.Buffer
	rep.Write(&out)
	for _, want := range []string{
		"| ColdStart          | first-response-ms | x-floor | binary-MB |",
		"| function=okta-hook |              8.83 |    3.44 |      9.88 |", // medians
		"| function=minimal   |              2.57 |         |      6.00 |",
		"| K=1/client=okta |        0.920 |         0 |",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "Single") {
		t.Errorf("a table without metrics is printed:\n%s", out.String())
	}
}

func TestParseFailures(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		want     int
	}{
		{"package failed", "BenchmarkX 1 5 ns/op\nFAIL\tpkg\t1s\n", 1},
		{"benchmark failed", "--- FAIL: BenchmarkX/a\n    x_test.go:1: boom\n", 1},
		{"panic", "panic: runtime error\n", 1},
		{"clean", "BenchmarkX 1 5 ns/op\nok pkg 1s\n", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := Parse(strings.NewReader(tt.in))
			if err != nil || len(rep.Failures) != tt.want {
				t.Errorf("failures %v (%v), want %d", rep.Failures, err, tt.want)
			}
		})
	}
}

func TestParseResult(t *testing.T) {
	for _, tt := range []struct {
		line       string
		table, row string
		ok         bool
	}{
		{"BenchmarkA/b=1/c-8 10 5 ns/op 2 x", "A", "b=1/c", true},
		{"BenchmarkA 10 5 ns/op", "A", "A", true},
		{"BenchmarkA/name-with-dash 1 5 ns/op", "A", "name-with-dash", true},
		{"BenchmarkA/b", "", "", false},             // name echoed without a result
		{"BenchmarkA 10 5 ns/op 7", "", "", false},  // odd fields
		{"BenchmarkA ten 5 ns/op", "", "", false},   // not a count
		{"BenchmarkA 10 five ns/op", "", "", false}, // not a number
		{"Benchmark 10 5 ns/op", "", "", false},     // no name
		{"BenchmarkA 0 5 ns/op", "", "", false},     // no iterations
	} {
		table, row, _, ok := parseResult(tt.line)
		if table != tt.table || row != tt.row || ok != tt.ok {
			t.Errorf("parseResult(%q) = %q, %q, %v; want %q, %q, %v", tt.line, table, row, ok, tt.table, tt.row, tt.ok)
		}
	}
}

func TestFormat(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 0.91972: "0.920", 2.573: "2.57", 12.04: "12.0", 153.4: "153", -0.5: "-0.500"} {
		if got := format(v); got != want {
			t.Errorf("format(%v) = %s, want %s", v, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(sample)
	f.Add("BenchmarkA/b-2 1 1 ns/op 1 x\nFAIL\n")
	f.Fuzz(func(t *testing.T, in string) {
		rep, err := Parse(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, tb := range rep.Tables {
			if len(tb.Rows) == 0 {
				t.Fatalf("table %q without rows", tb.Name)
			}
		}
		rep.Write(&bytes.Buffer{})
	})
}
