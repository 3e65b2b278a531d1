package main

import (
	"encoding/json"
	"log"
	"maps"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"

	"gopitfalls/samples/internal/lessontest"
)

var errorRequests = []struct {
	method, path, body string
	status             int
	logLines           int // how many layers log this one error
}{
	{"GET", "/api/orders/abc", "", 400, 1},
	{"GET", "/api/orders/5000", "", 404, 3},
	{"GET", "/api/orders/26", "", 503, 3},
	{"POST", "/api/orders", `{"sku":`, 400, 1},
	{"POST", "/api/orders", `{"sku":"","quantity":1}`, 422, 2},
	{"POST", "/api/orders", `{"sku":"sku-rare","quantity":5}`, 409, 3},
}

// lineCount counts the lines written to the log so far.
func lineCount(logs *lessontest.SyncBuffer) int { return strings.Count(logs.String(), "\n") }

// shape names a body's structure: "text" or the sorted JSON member names.
func shape(contentType string, body []byte) string {
	var m map[string]any
	if !strings.HasPrefix(contentType, "application/json") || json.Unmarshal(body, &m) != nil {
		return "text"
	}
	return strings.Join(slices.Sorted(maps.Keys(m)), ",")
}

// TestErrorsAreUntraceable demonstrates the bug: three body shapes, no trace id in
// headers, and one error logged by up to three layers.
func TestErrorsAreUntraceable(t *testing.T) {
	logs := &lessontest.SyncBuffer{}
	log.SetOutput(logs)
	defer log.SetOutput(os.Stderr)
	h := newHandler()
	shapes := map[string]bool{}
	for _, rq := range errorRequests {
		before := lineCount(logs)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(rq.method, rq.path, strings.NewReader(rq.body)))
		if rec.Code != rq.status {
			t.Errorf("%s %s: %d, want %d", rq.method, rq.path, rec.Code, rq.status)
		}
		shapes[shape(rec.Header().Get("Content-Type"), rec.Body.Bytes())] = true
		for k := range rec.Header() {
			if strings.Contains(strings.ToLower(k), "trace") || strings.Contains(strings.ToLower(k), "request-id") {
				t.Errorf("unexpected identity header %s", k)
			}
		}
		if n := lineCount(logs) - before; n != rq.logLines {
			t.Errorf("%s %s: %d log lines, want %d", rq.method, rq.path, n, rq.logLines)
		}
	}
	if len(shapes) != 3 {
		t.Errorf("error body shapes = %v, want 3", slices.Sorted(maps.Keys(shapes)))
	}
}

func TestLogLinesCarryNoRequestIdentity(t *testing.T) {
	logs := &lessontest.SyncBuffer{}
	log.SetOutput(logs)
	defer log.SetOutput(os.Stderr)
	req := httptest.NewRequest("GET", "/api/orders/5000", nil)
	req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	newHandler().ServeHTTP(httptest.NewRecorder(), req)
	if strings.Contains(logs.String(), "4bf92f35") {
		t.Errorf("broken program unexpectedly logs the trace id")
	}
}
