// Package logtest captures what code under test writes (slog JSON logs,
// EMF metric lines, a function's output) for tests to read back.
//
// It imports nothing of this repository, so any package's tests may use it.
package logtest

import (
	"bytes"
	"encoding/json"
	"iter"
	"strings"
	"sync"
	"testing"
)

// Buffer is an io.Writer that is safe for concurrent use: handlers, the
// Lambda runtime and the functions it runs write to it from several
// goroutines while the test reads it. The zero value is ready to use.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Reset discards everything written so far.
func (b *Buffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}

// Lines returns the lines written so far, each with its newline, as
// strings.Lines does. Lines that are not JSON are included.
func (b *Buffer) Lines() iter.Seq[string] {
	return strings.Lines(b.String())
}

// Records decodes every line written so far as one JSON object and fails
// tb, showing the line, if any line (a blank one included) is not.
func (b *Buffer) Records(tb testing.TB) []map[string]any {
	tb.Helper()
	var out []map[string]any
	n := 0
	for line := range b.Lines() {
		n++
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil || rec == nil {
			tb.Fatalf("output line %d is not a JSON object (%v): %q", n, err, line)
		}
		out = append(out, rec)
	}
	return out
}
