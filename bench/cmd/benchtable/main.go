// Command benchtable reads `go test -bench` output and prints one table per
// benchmark: a row per sub-benchmark, a column per reported metric (the
// median when a benchmark ran several times, e.g. with -count). It exits 1
// when the output reports a failure or holds no benchmark result, so a
// pipeline through tee still fails.
//
//	go test -run '^$' -bench . ./bench/drain | tee out.txt
//	go run ./bench/cmd/benchtable out.txt
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/okta-token-revoker/okta-token-revoker/bench/internal/benchkit"
)

func main() {
	in := io.Reader(os.Stdin)
	if len(os.Args) > 2 {
		fmt.Fprintln(os.Stderr, "usage: benchtable [file]   (default: standard input)")
		os.Exit(2)
	}
	if len(os.Args) == 2 {
		f, err := os.Open(os.Args[1])
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchtable:", err)
			os.Exit(1)
		}
		defer f.Close()
		in = f
	}
	rep, err := Parse(in)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
	rep.Write(os.Stdout)
	if len(rep.Failures) > 0 {
		fmt.Fprintf(os.Stderr, "benchtable: the run failed: %s\n", strings.Join(rep.Failures, "; "))
		os.Exit(1)
	}
	if len(rep.Tables) == 0 {
		fmt.Fprintln(os.Stderr, "benchtable: no benchmark results in the input")
		os.Exit(1)
	}
}

// Report is the parsed output.
type Report struct {
	Context  []string // goos, goarch, cpu lines, each once
	Tables   []*Table
	Failures []string // FAIL lines and panics
}

// Table is one top-level benchmark.
type Table struct {
	Name string
	Rows []*Row
}

// Row is one sub-benchmark; Samples holds every value of each metric.
type Row struct {
	Name    string
	Samples map[string][]float64
}

// ignored are the standard columns the tables leave out: the benchmarks
// here report what they measure as named metrics.
var ignored = map[string]bool{"ns/op": true, "B/op": true, "allocs/op": true, "MB/s": true}

// columnOrder is the order of the metrics these benchmarks report (go test
// prints them sorted by name); others follow in name order.
var columnOrder = []string{
	"init-ms", "first-invoke-ms", "first-response-ms", "floor-ms", "x-floor", "calls", "downstream-ms", "own-ms", "own-x-floor",
	"warm-response-ms", "peak-rss-MB", "binary-MB", "call-ms",
	"deliveries/s", "events/s", "p50-ms", "p99-ms", "5xx",
	"bucket-share", "fill", "429-share", "429s", "steady-429s", "redelivered", "drain-s",
}

// Parse reads go test -bench output.
func Parse(r io.Reader) (*Report, error) {
	rep := &Report{}
	tables := map[string]*Table{}
	rows := map[string]*Row{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	// pending is a benchmark name printed without its result: output the
	// benchmark wrote (a log line) came between, and the result follows
	// on a line of its own.
	pending := ""
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if pending != "" && line != "" && line[0] >= '0' && line[0] <= '9' {
			if _, _, _, ok := parseResult(pending + " " + line); ok {
				line = pending + " " + line
			}
		}
		switch {
		case strings.HasPrefix(line, "goos:"), strings.HasPrefix(line, "goarch:"), strings.HasPrefix(line, "cpu:"):
			if !slices.Contains(rep.Context, line) {
				rep.Context = append(rep.Context, line)
			}
		case strings.HasPrefix(line, "FAIL"), strings.HasPrefix(line, "--- FAIL"), strings.HasPrefix(line, "panic:"):
			rep.Failures = append(rep.Failures, line)
		case strings.HasPrefix(line, "Benchmark"):
			table, row, metrics, ok := parseResult(line)
			if !ok {
				pending = strings.Fields(line)[0]
				continue
			}
			pending = ""
			t := tables[table]
			if t == nil {
				t = &Table{Name: table}
				tables[table] = t
				rep.Tables = append(rep.Tables, t)
			}
			key := table + "\x00" + row
			rw := rows[key]
			if rw == nil {
				rw = &Row{Name: row, Samples: map[string][]float64{}}
				rows[key] = rw
				t.Rows = append(t.Rows, rw)
			}
			for unit, v := range metrics {
				rw.Samples[unit] = append(rw.Samples[unit], v)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	return rep, nil
}

// parseResult splits "BenchmarkX/sub-2  7  123 ns/op  4.5 unit ..." into
// the table (X), the row (sub, without the -GOMAXPROCS suffix) and the
// metrics.
func parseResult(line string) (table, row string, metrics map[string]float64, ok bool) {
	f := strings.Fields(line)
	if len(f) < 4 || len(f)%2 != 0 {
		return "", "", nil, false
	}
	if n, err := strconv.Atoi(f[1]); err != nil || n <= 0 {
		return "", "", nil, false
	}
	name := strings.TrimPrefix(f[0], "Benchmark")
	if i := strings.LastIndexByte(name, '-'); i > 0 {
		if _, err := strconv.Atoi(name[i+1:]); err == nil {
			name = name[:i]
		}
	}
	table, row, _ = strings.Cut(name, "/")
	if table == "" {
		return "", "", nil, false
	}
	if row == "" {
		row = table
	}
	metrics = map[string]float64{}
	for i := 2; i < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return "", "", nil, false
		}
		if !ignored[f[i+1]] {
			metrics[f[i+1]] = v
		}
	}
	return table, row, metrics, true
}

// Columns are the table's metrics in display order.
func (t *Table) Columns() []string {
	seen := map[string]bool{}
	for _, r := range t.Rows {
		for unit := range r.Samples {
			seen[unit] = true
		}
	}
	var cols []string
	for _, c := range columnOrder {
		if seen[c] {
			cols = append(cols, c)
			delete(seen, c)
		}
	}
	rest := make([]string, 0, len(seen))
	for c := range seen {
		rest = append(rest, c)
	}
	slices.Sort(rest)
	return append(cols, rest...)
}

// Write prints the report as aligned Markdown tables.
func (rep *Report) Write(w io.Writer) {
	for _, c := range rep.Context {
		fmt.Fprintln(w, c)
	}
	for _, t := range rep.Tables {
		cols := t.Columns()
		if len(cols) == 0 {
			continue // nothing but ns/op and the like
		}
		cells := [][]string{append([]string{t.Name}, cols...)}
		for _, r := range t.Rows {
			line := []string{r.Name}
			for _, c := range cols {
				if s, ok := r.Samples[c]; ok {
					line = append(line, format(benchkit.Median(s)))
				} else {
					line = append(line, "")
				}
			}
			cells = append(cells, line)
		}
		fmt.Fprintln(w)
		writeMarkdown(w, cells)
	}
}

func writeMarkdown(w io.Writer, cells [][]string) {
	width := make([]int, len(cells[0]))
	for _, line := range cells {
		for i, c := range line {
			width[i] = max(width[i], len(c), 3)
		}
	}
	row := func(line []string) {
		var b strings.Builder
		b.WriteString("|")
		for i, c := range line {
			if i == 0 {
				fmt.Fprintf(&b, " %-*s |", width[i], c)
			} else {
				fmt.Fprintf(&b, " %*s |", width[i], c)
			}
		}
		fmt.Fprintln(w, b.String())
	}
	row(cells[0])
	sep := make([]string, len(width))
	for i, n := range width {
		if i == 0 {
			sep[i] = strings.Repeat("-", n)
		} else {
			sep[i] = strings.Repeat("-", n-1) + ":"
		}
	}
	row(sep)
	for _, line := range cells[1:] {
		row(line)
	}
}

// format prints a value with about three significant digits.
func format(v float64) string {
	switch a := max(v, -v); {
	case a == 0:
		return "0"
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	default:
		return strconv.FormatFloat(v, 'f', 3, 64)
	}
}
