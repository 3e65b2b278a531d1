package main

import (
	"context"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"
)

// When callers give up after 100 ms, the work they started stops with them.
func TestWorkStopsWhenTheCallerLeaves(t *testing.T) {
	before := runtime.NumGoroutine()
	cancelledBefore := workCancelled.Value()
	for range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		req := httptest.NewRequest("GET", "/report?id=7", nil).WithContext(ctx)
		report(httptest.NewRecorder(), req)
		cancel()
	}
	deadline := time.Now().Add(time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines still running 1 s after the callers left (%d before)", n, before)
	}
	if got := workCancelled.Value() - cancelledBefore; got != 20 {
		t.Fatalf("work_cancelled grew by %d, want 20", got)
	}
	if workAfterLeaving.Value() != 0 {
		t.Fatalf("work finished after the client left: %d", workAfterLeaving.Value())
	}
}

func TestReportCompletesForAPatientCaller(t *testing.T) {
	rec := httptest.NewRecorder()
	report(rec, httptest.NewRequest("GET", "/report?id=7", nil))
	if rec.Code != 200 || rec.Body.String() != "account-7: 42.00 EUR\n" {
		t.Fatalf("got %d %q", rec.Code, rec.Body.String())
	}
}
