package logtest

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestBufferConcurrentWrites(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 50 {
				fmt.Fprintf(&b, "{\"writer\":%d,\"n\":%d}\n", i, j)
			}
		})
	}
	wg.Wait()
	if got := len(b.Records(t)); got != 8*50 {
		t.Fatalf("%d records, want %d", got, 8*50)
	}
	b.Reset()
	if b.String() != "" {
		t.Fatalf("after Reset: %q", b.String())
	}
}

func TestLines(t *testing.T) {
	var b Buffer
	b.Write([]byte("START RequestId: 1\n{\"msg\":\"a\"}\nno newline"))
	got := slices.Collect(b.Lines())
	want := []string{"START RequestId: 1\n", "{\"msg\":\"a\"}\n", "no newline"}
	if !slices.Equal(got, want) {
		t.Fatalf("Lines = %q, want %q", got, want)
	}
}

// fatalTB records the first Fatalf and stops the goroutine, as testing does.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestRecords(t *testing.T) {
	tests := []struct {
		name     string
		written  string
		want     []string // the "msg" of each record
		wantFail string   // part of the failure message, if it must fail
	}{
		{name: "empty", written: ""},
		{name: "json lines", written: "{\"msg\":\"a\"}\n{\"msg\":\"b\"}\n", want: []string{"a", "b"}},
		{name: "last line without newline", written: "{\"msg\":\"a\"}\n{\"msg\":\"b\"}", want: []string{"a", "b"}},
		{name: "text line", written: "{\"msg\":\"a\"}\nSTART RequestId: 1\n", wantFail: `line 2 is not a JSON object`},
		{name: "blank line", written: "{\"msg\":\"a\"}\n\n{\"msg\":\"b\"}\n", wantFail: `line 2 is not a JSON object`},
		{name: "null", written: "null\n", wantFail: `line 1 is not a JSON object`},
		{name: "array", written: "[1]\n", wantFail: `line 1 is not a JSON object`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b Buffer
			b.Write([]byte(tt.written))
			tb := &fatalTB{TB: t}
			var recs []map[string]any
			done := make(chan struct{})
			go func() {
				defer close(done)
				recs = b.Records(tb)
			}()
			<-done
			if tt.wantFail != "" {
				if !strings.Contains(tb.msg, tt.wantFail) {
					t.Fatalf("failure %q, want it to contain %q", tb.msg, tt.wantFail)
				}
				return
			}
			if tb.msg != "" {
				t.Fatalf("unexpected failure: %s", tb.msg)
			}
			var got []string
			for _, r := range recs {
				got = append(got, fmt.Sprint(r["msg"]))
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("records %q, want %q", got, tt.want)
			}
		})
	}
}
