package main

import (
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"gopitfalls/samples/internal/lessontest"
)

// The tests run this test binary again as the server, so that SIGTERM reaches a
// real process (see lessontest.StartServer).
func TestMain(m *testing.M) { lessontest.RunMainOrTests(m, main) }

// TestInFlightRequestsComplete: SIGTERM in the middle of three requests; all
// three get their answer, readiness turns 503 while draining, and the process
// exits 0 after printing its start and end lines.
func TestInFlightRequestsComplete(t *testing.T) {
	s := lessontest.StartServer(t, "WORK_TIME=800ms", "DRAIN_DELAY=300ms")
	results := make(chan error, 3)
	for range 3 {
		go func() {
			code, body, err := lessontest.Get(s.Base + "/api/work")
			if err == nil && (code != 200 || body != "done\n") {
				err = io.ErrUnexpectedEOF
			}
			results <- err
		}()
	}
	time.Sleep(200 * time.Millisecond)
	s.Cmd.Process.Signal(syscall.SIGTERM)
	time.Sleep(100 * time.Millisecond)
	if code, _, err := lessontest.Get(s.Base + "/readyz"); err != nil || code != http.StatusServiceUnavailable {
		t.Errorf("readyz while draining: %d %v, want 503", code, err)
	}
	for range 3 {
		if err := <-results; err != nil {
			t.Errorf("in-flight request failed: %v", err)
		}
	}
	var out []string
	for l := range s.Lines {
		out = append(out, l)
	}
	if err := s.Cmd.Wait(); err != nil {
		t.Errorf("exit: %v, want status 0", err)
	}
	log := strings.Join(out, "\n")
	if !strings.Contains(log, "shutdown: started") || !strings.Contains(log, "shutdown: complete") {
		t.Errorf("shutdown lines missing from:\n%s", log)
	}
}
