package lambdaruntime

import (
	"bytes"
	"io"
	"sync"
)

// maxLineLength splits longer log lines, as CloudWatch Logs does with
// events above 256 KB.
const maxLineLength = 256 * 1024

// lineOutput writes whole, prefixed lines to the caller's writer.
type lineOutput struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
}

func (o *lineOutput) line(s string) { o.write([]byte(s)) }

func (o *lineOutput) write(line []byte) {
	buf := make([]byte, 0, len(o.prefix)+len(line)+1)
	buf = append(buf, o.prefix...)
	buf = append(buf, line...)
	buf = append(buf, '\n')
	o.mu.Lock()
	defer o.mu.Unlock()
	_, _ = o.w.Write(buf) // logs are best effort; a broken terminal must not stop the function
}

// lineSplitter is the io.Writer a process stream is copied into; it emits
// one line at a time. exec copies each stream from a single goroutine, so it
// needs no lock of its own; flush runs after that goroutine is done.
type lineSplitter struct {
	out *lineOutput
	buf []byte
}

func (s *lineSplitter) Write(p []byte) (int, error) {
	s.buf = append(s.buf, p...)
	for {
		i := bytes.IndexByte(s.buf, '\n')
		switch {
		case i >= 0 && i <= maxLineLength:
			s.out.write(bytes.TrimSuffix(s.buf[:i], []byte("\r")))
			s.buf = s.buf[i+1:]
			continue
		case len(s.buf) >= maxLineLength:
			s.out.write(s.buf[:maxLineLength])
			s.buf = s.buf[maxLineLength:]
			continue
		}
		break
	}
	if len(s.buf) == 0 {
		s.buf = nil // let the backing array go
	}
	return len(p), nil
}

func (s *lineSplitter) flush() {
	if len(s.buf) > 0 {
		s.out.write(s.buf)
		s.buf = nil
	}
}
