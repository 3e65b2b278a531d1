package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"regexp"
	"sync"
	"testing"
	"time"
)

// logs runs fn with the default logger writing JSON into a buffer, and returns the records.
func logs(t *testing.T, fn func()) []map[string]any {
	t.Helper()
	var buf bytes.Buffer // JSONHandler serialises its writes, so a plain buffer is safe
	old := slog.Default()
	slog.SetDefault(newLogger(&buf))
	defer slog.SetDefault(old)
	fn()
	var records []map[string]any
	dec := json.NewDecoder(&buf)
	for dec.More() {
		var rec map[string]any
		if err := dec.Decode(&rec); err != nil {
			t.Fatal(err)
		}
		records = append(records, rec)
	}
	return records
}

// Concurrent checkouts, each with its own traceparent: every line carries the trace id
// of its request, the response returns it, and each request's lines form its timeline.
func TestEveryLineCarriesItsTraceID(t *testing.T) {
	const n = 20
	headers := make([]string, n)
	records := logs(t, func() {
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				url := fmt.Sprintf("/checkout?order=%d", 1000+i)
				if i%5 == 0 {
					url += "&card=declined"
				}
				req := httptest.NewRequest("GET", url, nil)
				req.Header.Set("traceparent", fmt.Sprintf("00-%032x-00f067aa0ba902b7-01", i+1))
				rec := httptest.NewRecorder()
				routes().ServeHTTP(rec, req)
				headers[i] = rec.Header().Get("Trace-Id")
			})
		}
		wg.Wait()
	})
	perTrace := map[string][]map[string]any{}
	for _, rec := range records {
		id, _ := rec["trace_id"].(string)
		perTrace[id] = append(perTrace[id], rec)
	}
	for i := range n {
		id := fmt.Sprintf("%032x", i+1)
		if headers[i] != id {
			t.Errorf("request %d: Trace-Id %q, want %q", i, headers[i], id)
		}
		want := []string{"checkout started", "cart loaded", "stock reserved", "charging card", "order confirmed"}
		if i%5 == 0 {
			want = []string{"checkout started", "cart loaded", "stock reserved", "charging card", "checkout failed"}
		}
		got := perTrace[id]
		if len(got) != len(want) {
			t.Fatalf("trace %s: %d lines, want %d", id, len(got), len(want))
		}
		var last time.Time
		for j, rec := range got {
			if rec["msg"] != want[j] {
				t.Errorf("trace %s line %d: msg %q, want %q", id, j, rec["msg"], want[j])
			}
			// A declined card is logged once, at WARN: the client's problem, not an
			// error of the service.
			level := "INFO"
			if want[j] == "checkout failed" {
				level = "WARN"
			}
			if rec["level"] != level {
				t.Errorf("trace %s line %d (%s): level %v, want %s", id, j, want[j], rec["level"], level)
			}
			ts, err := time.Parse(time.RFC3339Nano, rec["time"].(string))
			if err != nil || ts.Before(last) {
				t.Errorf("trace %s line %d: time %v (%v), not after %v", id, j, rec["time"], err, last)
			}
			last = ts
		}
	}
	if len(perTrace) != n {
		t.Errorf("%d distinct trace ids in the log, want %d (lines without one: %d)", len(perTrace), n, len(perTrace[""]))
	}
}

// Without a traceparent, or with an invalid one, the request gets a new trace id.
func TestNewTraceIDWhenMissingOrInvalid(t *testing.T) {
	hex32 := regexp.MustCompile(`^[0-9a-f]{32}$`)
	// The third is valid but for its upper-case hex, which W3C trace context forbids.
	for _, header := range []string{"", "00-zz-00f067aa0ba902b7-01", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"} {
		var got string
		records := logs(t, func() {
			req := httptest.NewRequest("GET", "/checkout?order=7", nil)
			if header != "" {
				req.Header.Set("traceparent", header)
			}
			rec := httptest.NewRecorder()
			routes().ServeHTTP(rec, req)
			got = rec.Header().Get("Trace-Id")
		})
		if !hex32.MatchString(got) || got == "00000000000000000000000000000000" || got == "4bf92f3577b34da6a3ce929d0e0e4736" {
			t.Fatalf("traceparent %q: Trace-Id %q, want a new id of 32 lowercase hex digits", header, got)
		}
		for _, rec := range records {
			if rec["trace_id"] != got {
				t.Errorf("traceparent %q: line %v lacks trace id %s", header, rec, got)
			}
		}
	}
}
