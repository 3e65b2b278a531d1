package main

import (
	"fmt"
	"log"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"gopitfalls/samples/internal/lessontest"
)

// Concurrent checkouts, each sent with its own traceparent: no log line carries a
// trace id, and most lines do not even name their order.
func TestLinesCannotBeTiedToRequests(t *testing.T) {
	var buf lessontest.SyncBuffer
	log.SetOutput(&buf)
	defer log.SetOutput(os.Stderr)

	const n = 20
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			url := fmt.Sprintf("/checkout?order=%d", 1000+i)
			if i%5 == 0 {
				url += "&card=declined"
			}
			req := httptest.NewRequest("GET", url, nil)
			req.Header.Set("traceparent", fmt.Sprintf("00-%032x-00f067aa0ba902b7-01", i+1))
			routes().ServeHTTP(httptest.NewRecorder(), req)
		})
	}
	wg.Wait()

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != n*5+n/5 {
		t.Fatalf("%d log lines, want %d", len(lines), n*5+n/5)
	}
	withOrder := 0
	for _, line := range lines {
		for i := range n {
			if strings.Contains(line, fmt.Sprintf("%032x", i+1)) {
				t.Fatalf("a line carries a trace id: %s", line)
			}
		}
		if strings.Contains(line, "order 10") {
			withOrder++
		}
	}
	if withOrder != n {
		t.Fatalf("%d lines name their order, want %d (only the first line of each request)", withOrder, n)
	}
	t.Logf("%d lines: 0 carry a trace id, %d (%.0f%%) name their order", len(lines), withOrder, 100*float64(withOrder)/float64(len(lines)))
}
