package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"testing"

	"gopitfalls/samples/internal/traceparent"
)

// records decodes a JSON handler's output, one record per line.
func records(t *testing.T, out string) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
		recs = append(recs, m)
	}
	return recs
}

func sampled(share float64) (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	return slog.New(NewSampler(slog.NewJSONHandler(&buf, nil), share)), &buf
}

// The share of INFO traces kept is the one asked for.
func TestShare(t *testing.T) {
	const traces = 20000
	for _, share := range []float64{0, 0.05, 0.25, 1} {
		lg, buf := sampled(share)
		for range traces {
			lg.Info("checkout", TraceKey, traceparent.NewTraceID())
		}
		got := float64(strings.Count(buf.String(), "\n")) / traces
		// 4 standard deviations of a binomial share
		if tol := 4 * math.Sqrt(share*(1-share)/traces); math.Abs(got-share) > tol+1e-9 {
			t.Errorf("share %g: kept %.4f of the traces", share, got)
		}
	}
}

// A trace's records are kept or dropped together, whether its id comes with
// Logger.With or on each record, and two services sampling alike agree.
func TestWholeTraces(t *testing.T) {
	one, buf1 := sampled(0.2)
	other, buf2 := sampled(0.2)
	for range 500 {
		id := traceparent.NewTraceID()
		lg := one.With(TraceKey, id)
		lg.Info("cart priced")
		lg.Info("payment authorized")
		lg.Info("checkout")
		other.Info("inventory reserved", TraceKey, id)
	}
	perTrace := map[string]int{}
	for _, r := range records(t, buf1.String()) {
		perTrace[r[TraceKey].(string)]++
	}
	if len(perTrace) < 50 || len(perTrace) > 150 {
		t.Errorf("%d of 500 traces kept at a 0.2 share", len(perTrace))
	}
	for id, n := range perTrace {
		if n != 3 {
			t.Errorf("trace %s: %d of its 3 records kept", id, n)
		}
	}
	otherKept := map[string]bool{}
	for _, r := range records(t, buf2.String()) {
		otherKept[r[TraceKey].(string)] = true
	}
	if len(otherKept) != len(perTrace) {
		t.Errorf("the other service kept %d traces, this one %d", len(otherKept), len(perTrace))
	}
	for id := range perTrace {
		if !otherKept[id] {
			t.Errorf("trace %s kept by one service, dropped by the other", id)
		}
	}
}

// Every WARN and ERROR record is kept, even when no INFO is; a record without a
// trace id is kept.
func TestEveryWarningAndErrorKept(t *testing.T) {
	lg, buf := sampled(0)
	for i := range 1000 {
		id := traceparent.NewTraceID()
		lg.Info("checkout", TraceKey, id)
		if i%2 == 0 {
			lg.With(TraceKey, id).Warn("out of stock")
		} else {
			lg.ErrorContext(context.Background(), "payment declined", TraceKey, id)
		}
	}
	lg.Info("no trace")
	recs := records(t, buf.String())
	levels := map[string]int{}
	for _, r := range recs {
		levels[fmt.Sprint(r["level"])]++
	}
	if levels["WARN"] != 500 || levels["ERROR"] != 500 || levels["INFO"] != 1 {
		t.Errorf("kept %v; want 500 WARN, 500 ERROR and the one INFO without a trace id", levels)
	}
}

func TestKeepIsTheRatioRule(t *testing.T) {
	if Keep("ffffffffffffffffffffffffffffffff", 0.5) || !Keep("0000000000000000000000000000000f", 0.5) {
		t.Error("Keep does not compare the id's low 64 bits with share × 2^64")
	}
	if !Keep("not-hex", 1) || Keep("not-hex", 0) {
		t.Error("shares 1 and 0 keep all and nothing")
	}
}
