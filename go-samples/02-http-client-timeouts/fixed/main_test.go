package main

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"testing"
	"time"
)

// hangingUpstream accepts requests and never answers until the test ends.
func hangingUpstream(t *testing.T) *httptest.Server {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	return srv
}

func TestQuoteAnswers504WithinBudgetWhenUpstreamHangs(t *testing.T) {
	mux := newMux(hangingUpstream(t).URL)
	start := time.Now()
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/quote", nil))
	elapsed := time.Since(start)
	if rec.Code != http.StatusGatewayTimeout {
		t.Fatalf("status %d, want 504", rec.Code)
	}
	if elapsed > budget+budget/2 {
		t.Fatalf("took %v, want about the %v budget", elapsed, budget)
	}
}

func TestNoGoroutinesLeftAfterHangingCalls(t *testing.T) {
	mux := newMux(hangingUpstream(t).URL)
	before := runtime.NumGoroutine()
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mux.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/quote", nil))
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before+2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+2 {
		t.Fatalf("%d goroutines left, %d before: calls to a hanging upstream leaked", n, before)
	}
}

func TestQuoteFromHealthyUpstream(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"price":42}`))
	}))
	defer up.Close()
	rec := httptest.NewRecorder()
	newMux(up.URL).ServeHTTP(rec, httptest.NewRequest("GET", "/quote", nil))
	if rec.Code != http.StatusOK || rec.Body.String() != "quote: {\"price\":42}\n" {
		t.Fatalf("got %d %q", rec.Code, rec.Body.String())
	}
}
