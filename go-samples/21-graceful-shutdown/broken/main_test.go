package main

import (
	"net/http"
	"syscall"
	"testing"
	"time"

	"gopitfalls/samples/internal/lessontest"
)

// The tests run this test binary again as the server, so that SIGTERM reaches a
// real process (see lessontest.StartServer).
func TestMain(m *testing.M) { lessontest.RunMainOrTests(m, main) }

// TestInFlightRequestsFail demonstrates the bug: SIGTERM in the middle of three
// requests ends the process at once; none of them gets an answer, and readiness
// said 200 until the end.
func TestInFlightRequestsFail(t *testing.T) {
	s := lessontest.StartServer(t, "WORK_TIME=800ms")
	results := make(chan error, 3)
	for range 3 {
		go func() {
			_, _, err := lessontest.Get(s.Base + "/api/work")
			results <- err
		}()
	}
	time.Sleep(200 * time.Millisecond)
	if code, _, err := lessontest.Get(s.Base + "/readyz"); err != nil || code != http.StatusOK {
		t.Errorf("readyz before the signal: %d %v", code, err)
	}
	s.Cmd.Process.Signal(syscall.SIGTERM)
	for range 3 {
		if err := <-results; err == nil {
			t.Errorf("in-flight request succeeded; want it cut by the exit")
		}
	}
	err := s.Cmd.Wait()
	if ws, ok := s.Cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
		t.Errorf("exit: %v, want killed by SIGTERM", err)
	}
}
