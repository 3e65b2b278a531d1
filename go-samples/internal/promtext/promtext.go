// Package promtext is the course's small writer of the Prometheus text exposition
// format (version 0.0.4): counters, histograms (cumulative _bucket series with an
// le label, then _sum and _count) and gauges read from a function, each family
// with its # HELP and # TYPE lines, label values escaped as the format requires.
//
// It is a teaching client, written because the course builds with the standard
// library only. A real service uses github.com/prometheus/client_golang, which
// also validates registrations, exposes the Go runtime collectors and speaks
// OpenMetrics (where exemplars live). What this package keeps from it is the
// model that matters for lesson 17: every distinct combination of label values
// is a series of its own, created on first use and kept for the life of the
// process.
package promtext

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// ContentType is what a Prometheus server expects of a text exposition.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

var (
	metricName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelName  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// Registry holds metric families and writes them in registration order.
type Registry struct {
	mu       sync.Mutex
	families []family
	names    map[string]bool
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{names: map[string]bool{}} }

// family is one metric family: it writes itself and counts its series.
type family interface {
	write(w *bufio.Writer)
	series() int
}

func (r *Registry) register(name string, labels []string, f family) {
	if !metricName.MatchString(name) {
		panic(fmt.Sprintf("promtext: invalid metric name %q", name))
	}
	for _, l := range labels {
		if !labelName.MatchString(l) || strings.HasPrefix(l, "__") || l == "le" {
			panic(fmt.Sprintf("promtext: invalid label name %q in %s", l, name))
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.names[name] {
		panic("promtext: duplicate metric family " + name)
	}
	r.names[name] = true
	r.families = append(r.families, f)
}

// WriteTo writes the whole exposition to w.
func (r *Registry) WriteTo(w io.Writer) (int64, error) {
	cw := &countingWriter{w: w}
	bw := bufio.NewWriterSize(cw, 32<<10)
	r.mu.Lock()
	families := slices.Clone(r.families)
	r.mu.Unlock()
	for _, f := range families {
		f.write(bw)
	}
	err := bw.Flush()
	return cw.n, err
}

// Series is the number of samples (series) the next exposition will hold.
func (r *Registry) Series() int {
	r.mu.Lock()
	families := slices.Clone(r.families)
	r.mu.Unlock()
	n := 0
	for _, f := range families {
		n += f.series()
	}
	return n
}

// Handler serves the exposition (GET /metrics).
func (r *Registry) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", ContentType)
		r.WriteTo(w)
	})
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// vec is what counters and histograms share: label names, and one entry per
// distinct combination of label values (the series), keyed by the values joined
// with a byte that cannot appear in UTF-8 text.
type vec[T any] struct {
	name, help, kind string
	labels           []string
	mu               sync.Mutex
	entries          map[string]*entry[T]
}

type entry[T any] struct {
	values []string
	v      T
}

func newVec[T any](name, help, kind string, labels []string) *vec[T] {
	return &vec[T]{name: name, help: help, kind: kind, labels: slices.Clone(labels),
		entries: map[string]*entry[T]{}}
}

// with returns the entry for these label values, creating it on first use; the
// caller holds v.mu.
func (v *vec[T]) with(values []string) *entry[T] {
	if len(values) != len(v.labels) {
		panic(fmt.Sprintf("promtext: %s takes %d label values, got %d", v.name, len(v.labels), len(values)))
	}
	key := strings.Join(values, "\xff")
	e, ok := v.entries[key]
	if !ok {
		e = &entry[T]{values: slices.Clone(values)}
		v.entries[key] = e
	}
	return e
}

// sorted returns the entries in a stable order (by their key), copied under the lock.
func (v *vec[T]) sorted(copyValue func(T) T) []entry[T] {
	v.mu.Lock()
	keys := make([]string, 0, len(v.entries))
	for k := range v.entries {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]entry[T], len(keys))
	for i, k := range keys {
		e := v.entries[k]
		out[i] = entry[T]{values: e.values, v: copyValue(e.v)}
	}
	v.mu.Unlock()
	return out
}

func (v *vec[T]) header(w *bufio.Writer) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", v.name, escapeHelp(v.help), v.name, v.kind)
}

// CounterVec is a counter family: a value that only goes up, per label values.
type CounterVec struct{ v *vec[float64] }

// Counter registers a counter family with these label names.
func (r *Registry) Counter(name, help string, labels ...string) *CounterVec {
	c := &CounterVec{newVec[float64](name, help, "counter", labels)}
	r.register(name, labels, c)
	return c
}

// Add adds delta (≥ 0) to the series with these label values.
func (c *CounterVec) Add(delta float64, values ...string) {
	if delta < 0 {
		panic("promtext: a counter cannot go down")
	}
	c.v.mu.Lock()
	c.v.with(values).v += delta
	c.v.mu.Unlock()
}

// Inc adds 1 to the series with these label values.
func (c *CounterVec) Inc(values ...string) { c.Add(1, values...) }

func (c *CounterVec) series() int {
	c.v.mu.Lock()
	defer c.v.mu.Unlock()
	return len(c.v.entries)
}

func (c *CounterVec) write(w *bufio.Writer) {
	c.v.header(w)
	for _, e := range c.v.sorted(func(f float64) float64 { return f }) {
		sample(w, c.v.name, c.v.labels, e.values, "", "", e.v)
	}
}

// HistogramVec is a histogram family: per label values, how many observations
// fell at or below each upper bound, their sum and their count.
type HistogramVec struct {
	v      *vec[*hist]
	bounds []float64 // sorted upper bounds, without +Inf
}

type hist struct {
	counts []uint64 // per bound, not cumulative; the last one is +Inf
	sum    float64
}

// Histogram registers a histogram family with these bucket upper bounds
// (increasing; +Inf is implied) and label names.
func (r *Registry) Histogram(name, help string, bounds []float64, labels ...string) *HistogramVec {
	if !slices.IsSorted(bounds) || len(bounds) == 0 || math.IsInf(bounds[len(bounds)-1], 1) {
		panic("promtext: histogram bounds must increase and leave +Inf implied: " + name)
	}
	h := &HistogramVec{v: newVec[*hist](name, help, "histogram", labels), bounds: slices.Clone(bounds)}
	r.register(name, labels, h)
	return h
}

// Observe records x in the series with these label values.
func (h *HistogramVec) Observe(x float64, values ...string) {
	i, _ := slices.BinarySearch(h.bounds, x) // first bound ≥ x (le means "at or below")
	h.v.mu.Lock()
	e := h.v.with(values)
	if e.v == nil {
		e.v = &hist{counts: make([]uint64, len(h.bounds)+1)}
	}
	e.v.counts[i]++
	e.v.sum += x
	h.v.mu.Unlock()
}

func (h *HistogramVec) series() int {
	h.v.mu.Lock()
	defer h.v.mu.Unlock()
	return len(h.v.entries) * (len(h.bounds) + 3) // buckets, +Inf, _sum, _count
}

func (h *HistogramVec) write(w *bufio.Writer) {
	h.v.header(w)
	snapshot := func(x *hist) *hist {
		return &hist{counts: slices.Clone(x.counts), sum: x.sum}
	}
	for _, e := range h.v.sorted(snapshot) {
		var cum uint64
		for i, c := range e.v.counts {
			cum += c
			le := "+Inf"
			if i < len(h.bounds) {
				le = formatFloat(h.bounds[i])
			}
			sample(w, h.v.name+"_bucket", h.v.labels, e.values, "le", le, float64(cum))
		}
		sample(w, h.v.name+"_sum", h.v.labels, e.values, "", "", e.v.sum)
		sample(w, h.v.name+"_count", h.v.labels, e.values, "", "", float64(cum))
	}
}

// gaugeFunc is a gauge without labels whose value is read at exposition time.
type gaugeFunc struct {
	name, help string
	f          func() float64
}

// GaugeFunc registers a gauge without labels, read from f at every exposition.
func (r *Registry) GaugeFunc(name, help string, f func() float64) {
	r.register(name, nil, &gaugeFunc{name, help, f})
}

func (g *gaugeFunc) series() int { return 1 }

func (g *gaugeFunc) write(w *bufio.Writer) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n", g.name, escapeHelp(g.help), g.name)
	sample(w, g.name, nil, nil, "", "", g.f())
}

// sample writes one line: name{l1="v1",...,extra="x"} value
func sample(w *bufio.Writer, name string, labels, values []string, extraName, extraValue string, v float64) {
	w.WriteString(name)
	if len(labels) > 0 || extraName != "" {
		w.WriteByte('{')
		for i, l := range labels {
			if i > 0 {
				w.WriteByte(',')
			}
			w.WriteString(l)
			w.WriteString(`="`)
			w.WriteString(EscapeLabelValue(values[i]))
			w.WriteByte('"')
		}
		if extraName != "" {
			if len(labels) > 0 {
				w.WriteByte(',')
			}
			w.WriteString(extraName)
			w.WriteString(`="`)
			w.WriteString(extraValue)
			w.WriteByte('"')
		}
		w.WriteByte('}')
	}
	w.WriteByte(' ')
	w.WriteString(formatFloat(v))
	w.WriteByte('\n')
}

var (
	labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
)

// EscapeLabelValue escapes a label value: backslash, double quote and line feed.
func EscapeLabelValue(s string) string { return labelEscaper.Replace(s) }

func escapeHelp(s string) string { return helpEscaper.Replace(s) }

func formatFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	case math.IsNaN(f):
		return "NaN"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}
