package main

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"expvar"
	"hash/fnv"
	"log/slog"
	"math"
)

var sampledOut = expvar.NewInt("log_records_dropped") // INFO records the sampler dropped

// TraceKey is the attribute that carries a record's trace id.
const TraceKey = "trace_id"

// Sampler is a slog.Handler that passes every record at WARN or above and a
// fixed share of the others to next. Which INFO records pass is decided by the
// record's trace id alone (the attribute TraceKey, on the record or added with
// Logger.With), so every record of a sampled trace passes, in this process and
// in any other service that samples the same share the same way; a record
// without a trace id is kept.
type Sampler struct {
	next  slog.Handler
	share float64
	trace string // the trace id added with WithAttrs, if any
}

// NewSampler keeps share (0..1) of the traces' INFO and DEBUG records.
func NewSampler(next slog.Handler, share float64) *Sampler {
	return &Sampler{next: next, share: share}
}

func (s *Sampler) Enabled(ctx context.Context, level slog.Level) bool {
	return s.next.Enabled(ctx, level)
}

func (s *Sampler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		return s.next.Handle(ctx, r)
	}
	trace := s.trace
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == TraceKey {
			trace = a.Value.String()
			return false
		}
		return true
	})
	if trace != "" && !Keep(trace, s.share) {
		sampledOut.Add(1)
		return nil
	}
	return s.next.Handle(ctx, r)
}

func (s *Sampler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *s
	for _, a := range attrs {
		if a.Key == TraceKey {
			c.trace = a.Value.String()
		}
	}
	c.next = s.next.WithAttrs(attrs)
	return &c
}

func (s *Sampler) WithGroup(name string) slog.Handler {
	c := *s
	c.next = s.next.WithGroup(name)
	return &c
}

// Keep says whether a trace is in the sampled share: its id's last 16 hex digits,
// read as a number, fall below share of 2^64 (the rule of OpenTelemetry's
// TraceIdRatioBased sampler, so a trace sampled here is sampled by every service
// using it). An id that is not hex is hashed instead.
func Keep(traceID string, share float64) bool {
	if share >= 1 {
		return true
	}
	if share <= 0 {
		return false
	}
	var n uint64
	if b, err := hex.DecodeString(traceID); err == nil && len(b) >= 8 {
		n = binary.BigEndian.Uint64(b[len(b)-8:])
	} else {
		h := fnv.New64a()
		h.Write([]byte(traceID))
		n = h.Sum64()
	}
	return float64(n) < share*math.Exp2(64)
}
