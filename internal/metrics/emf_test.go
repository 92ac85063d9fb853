package metrics

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

type emfDoc struct {
	AWS struct {
		Timestamp         int64 `json:"Timestamp"`
		CloudWatchMetrics []struct {
			Namespace  string     `json:"Namespace"`
			Dimensions [][]string `json:"Dimensions"`
			Metrics    []struct {
				Name string `json:"Name"`
				Unit string `json:"Unit"`
			} `json:"Metrics"`
		} `json:"CloudWatchMetrics"`
	} `json:"_aws"`
}

func TestFlushWritesOneValidEMFLine(t *testing.T) {
	r := New("OktaTokenRevoker")
	r.SetDimension("Trigger", "sqs")
	r.SetProperty("requestId", "abc")
	r.Add("Revocations", 2)
	r.Add("Revocations", 1)
	r.Add("Failures", 0)
	r.Observe("OktaLatency", Milliseconds, 12)
	r.Observe("OktaLatency", Milliseconds, 30)
	r.Observe("Single", Milliseconds, 5)

	var buf bytes.Buffer
	now := time.UnixMilli(1_700_000_000_123)
	if err := r.Flush(&buf, now); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
		t.Fatalf("want exactly one line, got %q", out)
	}
	var doc emfDoc
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(buf.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	if doc.AWS.Timestamp != now.UnixMilli() {
		t.Errorf("Timestamp = %d", doc.AWS.Timestamp)
	}
	if len(doc.AWS.CloudWatchMetrics) != 1 {
		t.Fatalf("directives = %d", len(doc.AWS.CloudWatchMetrics))
	}
	d := doc.AWS.CloudWatchMetrics[0]
	if d.Namespace != "OktaTokenRevoker" {
		t.Errorf("Namespace = %q", d.Namespace)
	}
	if fmt.Sprint(d.Dimensions) != "[[Trigger]]" {
		t.Errorf("Dimensions = %v", d.Dimensions)
	}
	units := map[string]string{}
	for _, m := range d.Metrics {
		units[m.Name] = m.Unit
		if _, ok := raw[m.Name]; !ok {
			t.Errorf("declared metric %s has no value at the root", m.Name)
		}
	}
	want := map[string]string{"Revocations": "Count", "Failures": "Count", "OktaLatency": "Milliseconds", "Single": "Milliseconds"}
	if fmt.Sprint(units) != fmt.Sprint(want) {
		t.Errorf("units = %v, want %v", units, want)
	}
	for name, wantValue := range map[string]string{
		"Revocations": "3", "Failures": "0", "OktaLatency": "[12 30]", "Single": "5",
		"Trigger": "sqs", "requestId": "abc",
	} {
		if got := fmt.Sprint(raw[name]); got != wantValue {
			t.Errorf("%s = %s, want %s", name, got, wantValue)
		}
	}
}

func TestFlushWithoutMetricsWritesNothing(t *testing.T) {
	r := New("ns")
	r.SetProperty("x", 1)
	var buf bytes.Buffer
	if err := r.Flush(&buf, time.Now()); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != 0 {
		t.Fatalf("wrote %q", buf.String())
	}
}

func TestFlushRejectsCollisions(t *testing.T) {
	tests := []struct {
		name  string
		setup func(r *Recorder)
	}{
		{"property", func(r *Recorder) { r.SetProperty("Revocations", "x") }},
		{"dimension", func(r *Recorder) { r.SetDimension("Revocations", "x") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := New("ns")
			tt.setup(r)
			r.Add("Revocations", 1)
			var buf bytes.Buffer
			if err := r.Flush(&buf, time.Now()); err == nil {
				t.Fatalf("want an error, wrote %q", buf.String())
			}
		})
	}
}

func TestObserveCapsValues(t *testing.T) {
	r := New("ns")
	for i := range MaxValues + 5 {
		r.Observe("OktaLatency", Milliseconds, float64(i))
	}
	var buf bytes.Buffer
	if err := r.Flush(&buf, time.Now()); err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Latency []float64 `json:"OktaLatency"`
		Dropped int       `json:"droppedValues"`
	}
	if err := json.Unmarshal(buf.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	if len(raw.Latency) != MaxValues || raw.Dropped != 5 {
		t.Fatalf("values = %d, dropped = %d", len(raw.Latency), raw.Dropped)
	}
}

func TestConcurrentUse(t *testing.T) {
	r := New("ns")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				r.Add("Revocations", 1)
				r.Observe("OktaLatency", Milliseconds, 1)
			}
		})
	}
	wg.Wait()
	if got := r.Value("Revocations"); got != 400 {
		t.Fatalf("Revocations = %v, want 400", got)
	}
	if got := r.Value("OktaLatency"); got != MaxValues {
		t.Fatalf("OktaLatency sum = %v, want %d (capped)", got, MaxValues)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, fmt.Errorf("disk full") }

func TestFlushReportsWriteErrors(t *testing.T) {
	r := New("ns")
	r.Add("Revocations", 1)
	if err := r.Flush(failingWriter{}, time.Now()); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("err = %v", err)
	}
}
