package main

import (
	"context"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"
)

// The work outlives the caller: goroutines are still running after the callers left.
func TestWorkOutlivesTheCaller(t *testing.T) {
	before := runtime.NumGoroutine()
	for range 10 {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		report(httptest.NewRecorder(), httptest.NewRequest("GET", "/report?id=1", nil).WithContext(ctx))
		cancel()
	}
	time.Sleep(200 * time.Millisecond)
	if n := runtime.NumGoroutine(); n < before+10 {
		t.Fatalf("expected the 10 detached goroutines to still run, have %d (before %d)", n, before)
	}
	// Let them finish so the test binary exits cleanly.
	time.Sleep(2 * stepTime)
	if workAfterLeaving.Value() != 10 {
		t.Fatalf("work_finished_after_client_left = %d, want 10", workAfterLeaving.Value())
	}
}
