package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"gopitfalls/samples/internal/lessontest"
)

// Requests that produce each error kind; LESSON.md lists the same ones.
var errorRequests = []struct {
	method, path, body string
	status             int
}{
	{"GET", "/api/orders/abc", "", 400},
	{"GET", "/api/orders/5000", "", 404},
	{"GET", "/api/orders/26", "", 503},
	{"POST", "/api/orders", `{"sku":`, 400},
	{"POST", "/api/orders", `{"sku":"","quantity":1}`, 422},
	{"POST", "/api/orders", `{"sku":"sku-rare","quantity":5}`, 409},
}

// jsonLines decodes the JSON log records written to logs so far (one per line).
func jsonLines(logs *lessontest.SyncBuffer) []map[string]any {
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

type seen struct {
	status      int
	contentType string
	traceHeader string
	body        map[string]any
}

// TestErrorsUnderLoad: every error body is one shape of problem+json, its
// trace_id equals the Trace-Id header, and exactly one log line carries it.
func TestErrorsUnderLoad(t *testing.T) {
	logs := &lessontest.SyncBuffer{}
	slog.SetDefault(slog.New(traceHandler{slog.NewJSONHandler(logs, nil)}))
	srv := httptest.NewServer(newHandler())
	defer srv.Close()

	var mu sync.Mutex
	var got []seen
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 30 {
				rq := errorRequests[(w+i)%len(errorRequests)]
				req, _ := http.NewRequest(rq.method, srv.URL+rq.path, strings.NewReader(rq.body))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				var body map[string]any
				json.NewDecoder(resp.Body).Decode(&body)
				resp.Body.Close()
				if resp.StatusCode != rq.status {
					t.Errorf("%s %s: %d, want %d", rq.method, rq.path, resp.StatusCode, rq.status)
				}
				mu.Lock()
				got = append(got, seen{resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Trace-Id"), body})
				mu.Unlock()
			}
		})
	}
	wg.Wait()

	perTrace := map[string]int{}
	for _, l := range jsonLines(logs) {
		id, _ := l["trace_id"].(string)
		perTrace[id]++
	}
	wantKeys := []string{"detail", "instance", "status", "title", "trace_id", "type"}
	for _, s := range got {
		if s.contentType != "application/problem+json" {
			t.Fatalf("Content-Type %q", s.contentType)
		}
		if keys := slices.Sorted(maps.Keys(s.body)); !slices.Equal(keys, wantKeys) {
			t.Fatalf("body members %v, want %v", keys, wantKeys)
		}
		if s.body["trace_id"] != s.traceHeader || len(s.traceHeader) != 32 {
			t.Fatalf("body trace_id %v, header %q", s.body["trace_id"], s.traceHeader)
		}
		if int(s.body["status"].(float64)) != s.status {
			t.Fatalf("body status %v, response %d", s.body["status"], s.status)
		}
		// The detail is for the client: the layers' own wording ("place order:
		// reserve 5 of sku-rare (have 2): ...") stays in the log line that the
		// trace id finds.
		for _, internal := range []string{"get order", "place order", "reserve", "shard"} {
			if d, _ := s.body["detail"].(string); strings.Contains(d, internal) {
				t.Fatalf("status %d: the detail carries internal text: %q", s.status, d)
			}
		}
		if n := perTrace[s.traceHeader]; n != 1 {
			t.Fatalf("trace %s: %d log lines, want exactly 1", s.traceHeader, n)
		}
	}
	if perTrace[""] != 0 {
		t.Errorf("%d request log lines without a trace_id", perTrace[""])
	}
}

func TestTraceparentIsHonoured(t *testing.T) {
	slog.SetDefault(slog.New(traceHandler{slog.NewJSONHandler(io.Discard, nil)}))
	const id = "4bf92f3577b34da6a3ce929d0e0e4736"
	req := httptest.NewRequest("GET", "/api/orders/5000", nil)
	req.Header.Set("traceparent", "00-"+id+"-00f067aa0ba902b7-01")
	rec := httptest.NewRecorder()
	newHandler().ServeHTTP(rec, req)
	if got := rec.Header().Get("Trace-Id"); got != id {
		t.Errorf("Trace-Id %q, want the caller's %q", got, id)
	}
	if !strings.Contains(rec.Body.String(), `"trace_id":"`+id+`"`) {
		t.Errorf("body %s lacks the caller's trace id", rec.Body)
	}
}

// A traceparent that W3C trace context calls invalid, however close to a valid one,
// does not give its trace id: the request starts a new trace.
func TestMalformedTraceparentStartsANewTrace(t *testing.T) {
	slog.SetDefault(slog.New(traceHandler{slog.NewJSONHandler(io.Discard, nil)}))
	const id = "4bf92f3577b34da6a3ce929d0e0e4736"
	for _, header := range []string{
		"00-" + strings.ToUpper(id) + "-00f067aa0ba902b7-01", // upper-case hex
		"00-" + id + "-0000000000000000-01",                  // all-zero parent id
		"ff-" + id + "-00f067aa0ba902b7-01",                  // version ff
	} {
		req := httptest.NewRequest("GET", "/api/orders/5000", nil)
		req.Header.Set("traceparent", header)
		rec := httptest.NewRecorder()
		newHandler().ServeHTTP(rec, req)
		got := rec.Header().Get("Trace-Id")
		if len(got) != 32 || got == id || strings.ToLower(got) != got {
			t.Errorf("traceparent %q: Trace-Id %q, want a new id of 32 lower-case hex digits", header, got)
		}
	}
}

func TestSuccessIsNotLogged(t *testing.T) {
	logs := &lessontest.SyncBuffer{}
	slog.SetDefault(slog.New(traceHandler{slog.NewJSONHandler(logs, nil)}))
	rec := httptest.NewRecorder()
	newHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/api/orders/42", nil))
	if rec.Code != 200 || len(jsonLines(logs)) != 0 {
		t.Errorf("status %d, %d log lines; want 200 and none", rec.Code, len(jsonLines(logs)))
	}
}
