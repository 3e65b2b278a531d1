package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"gopitfalls/samples/internal/lessontest"
	"gopitfalls/samples/internal/traceparent"
)

// idFor finds a trace id whose checkout ends with status.
func idFor(status int) string {
	for {
		if id := traceparent.NewTraceID(); outcome(id) == status {
			return id
		}
	}
}

// One JSON line per request at most: every failed checkout's line, with its
// trace id (the one the caller got back), and none of the DEBUG narration.
func TestOneLinePerRequest(t *testing.T) {
	var out lessontest.SyncBuffer
	a := newApp(&out, 0, 0) // INFO, no INFO trace sampled
	srv := httptest.NewServer(a.mux())
	defer srv.Close()
	var failed []string
	for i := range 30 {
		req, _ := http.NewRequest("GET", srv.URL+"/checkout", nil)
		if i%3 == 0 {
			status := []int{http.StatusConflict, http.StatusBadGateway}[i%2]
			req.Header.Set("traceparent", fmt.Sprintf("00-%s-00f067aa0ba902b7-01", idFor(status)))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode >= 400 {
			failed = append(failed, resp.Header.Get("X-Trace-Id"))
		}
	}
	recs := records(t, out.String())
	if len(recs) != len(failed) || len(failed) < 10 {
		t.Fatalf("%d lines for %d failed checkouts (of 30): %s", len(recs), len(failed), out.String())
	}
	for i, r := range recs {
		if r[TraceKey] != failed[i] || r["status"] == nil || r["total_eur"] == nil {
			t.Errorf("line %d: %v; want trace %s with its attributes", i, r, failed[i])
		}
	}
}

// The level is a LevelVar: PUT /debug/log-level?level=debug turns the
// narration on without a restart.
func TestLevelAtRunTime(t *testing.T) {
	var out lessontest.SyncBuffer
	a := newApp(&out, 0, 1)
	srv := httptest.NewServer(a.mux())
	defer srv.Close()
	get := func() {
		resp, err := http.Get(srv.URL + "/checkout")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	get()
	if n := strings.Count(out.String(), "\n"); n != 1 {
		t.Fatalf("at INFO: %d lines, want 1", n)
	}
	req, _ := http.NewRequest(http.MethodPut, srv.URL+"/debug/log-level?level=debug", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("setting the level: %v %v", resp, err)
	}
	resp.Body.Close()
	get()
	if n := strings.Count(out.String(), "\n"); n != 3 {
		t.Errorf("at DEBUG: %d lines in all, want 3 (the debug line and the request's)", n)
	}
}
