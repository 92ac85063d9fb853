// Package metrics writes CloudWatch metrics in the Embedded Metric Format
// (EMF): one JSON log line that CloudWatch Logs turns into metrics, with no
// API call and no extra latency in the Lambda function.
//
// A Recorder collects the metrics of one invocation; Flush writes them as a
// single line. Format reference:
// https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
package metrics

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"
)

// Unit is a CloudWatch metric unit.
type Unit string

// The units this service uses.
const (
	Count        Unit = "Count"
	Milliseconds Unit = "Milliseconds"
)

// MaxValues is the most values one metric may carry in one EMF document.
// Further observations are dropped (and counted in the "droppedValues"
// property) rather than split into more lines.
const MaxValues = 100

// maxMetrics is the most metrics one EMF directive may declare.
const maxMetrics = 100

// Recorder collects one invocation's metrics. It is safe for concurrent use.
type Recorder struct {
	namespace string

	mu         sync.Mutex
	dimensions map[string]string
	properties map[string]any
	metrics    map[string]*metric
	dropped    int
}

type metric struct {
	unit    Unit
	counter bool
	values  []float64
}

// New returns an empty recorder for namespace (e.g. "OktaTokenRevoker").
func New(namespace string) *Recorder {
	return &Recorder{
		namespace:  namespace,
		dimensions: make(map[string]string),
		properties: make(map[string]any),
		metrics:    make(map[string]*metric),
	}
}

// SetDimension sets a dimension every metric of the document is recorded
// under. Keep dimension values low-cardinality: each combination is a
// separately billed metric.
func (r *Recorder) SetDimension(name, value string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dimensions[name] = value
}

// SetProperty adds a searchable field to the log line that is not a metric
// (e.g. the Lambda request id).
func (r *Recorder) SetProperty(name string, value any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.properties[name] = value
}

// Add adds n to the counter name (unit Count). Adding 0 declares the
// counter, so it is published as 0 rather than missing.
func (r *Recorder) Add(name string, n float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.metrics[name]
	if m == nil {
		m = &metric{unit: Count, counter: true, values: []float64{0}}
		r.metrics[name] = m
	}
	m.values[0] += n
}

// Observe records one value of name (e.g. a latency). Each value counts
// towards the metric's statistics (average, percentiles).
func (r *Recorder) Observe(name string, unit Unit, v float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.metrics[name]
	if m == nil {
		m = &metric{unit: unit}
		r.metrics[name] = m
	}
	if len(m.values) >= MaxValues {
		r.dropped++
		return
	}
	m.values = append(m.values, v)
}

// Value returns a counter's value, or the sum of an observed metric's
// values; for tests and logs.
func (r *Recorder) Value(name string) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var sum float64
	if m := r.metrics[name]; m != nil {
		for _, v := range m.values {
			sum += v
		}
	}
	return sum
}

type directive struct {
	Namespace  string       `json:"Namespace"`
	Dimensions [][]string   `json:"Dimensions"`
	Metrics    []metricDecl `json:"Metrics"`
}

type metricDecl struct {
	Name string `json:"Name"`
	Unit Unit   `json:"Unit"`
}

// Flush writes the metrics as one EMF JSON line to w, timestamped now.
// It writes nothing when no metric was recorded. Properties and dimensions
// whose names collide with a metric are rejected, since CloudWatch would
// read them as the metric's value.
func (r *Recorder) Flush(w io.Writer, now time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.metrics) == 0 {
		return nil
	}
	names := make([]string, 0, len(r.metrics))
	for name := range r.metrics {
		names = append(names, name)
	}
	sort.Strings(names)
	if len(names) > maxMetrics {
		return fmt.Errorf("emf: %d metrics in one document, at most %d", len(names), maxMetrics)
	}
	dimKeys := make([]string, 0, len(r.dimensions))
	for k := range r.dimensions {
		dimKeys = append(dimKeys, k)
	}
	sort.Strings(dimKeys)

	doc := make(map[string]any, len(names)+len(dimKeys)+len(r.properties)+2)
	for k, v := range r.properties {
		doc[k] = v
	}
	if r.dropped > 0 {
		doc["droppedValues"] = r.dropped
	}
	for _, k := range dimKeys {
		doc[k] = r.dimensions[k]
	}
	decls := make([]metricDecl, 0, len(names))
	for _, name := range names {
		if _, clash := doc[name]; clash || name == "_aws" {
			return fmt.Errorf("emf: metric %q collides with a property or dimension", name)
		}
		m := r.metrics[name]
		decls = append(decls, metricDecl{Name: name, Unit: m.unit})
		if m.counter || len(m.values) == 1 {
			doc[name] = m.values[0]
		} else {
			doc[name] = m.values
		}
	}
	doc["_aws"] = map[string]any{
		"Timestamp": now.UnixMilli(),
		"CloudWatchMetrics": []directive{{
			Namespace:  r.namespace,
			Dimensions: [][]string{dimKeys},
			Metrics:    decls,
		}},
	}
	line, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("emf: encode: %w", err)
	}
	line = append(line, '\n')
	if _, err := w.Write(line); err != nil {
		return fmt.Errorf("emf: write: %w", err)
	}
	return nil
}
