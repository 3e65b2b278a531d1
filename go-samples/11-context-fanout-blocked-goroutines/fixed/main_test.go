package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/synctest"
	"time"

	"gopitfalls/samples/internal/lessontest"
)

// TestNoLeak: after the calls return, every replica goroutine has returned
// (the winner's cancel stops the losers) and the leak profile is empty.
func TestNoLeak(t *testing.T) {
	const calls, replicas = 20, 4
	p := &pricing{replicas: replicas, maxLatency: 5 * time.Millisecond}
	for i := range calls {
		if _, err := p.first(t.Context(), fmt.Sprint("sku-", i)); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for replicaGoroutines.Value() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if v := replicaGoroutines.Value(); v != 0 {
		t.Errorf("replica goroutines alive after the calls = %d, want 0", v)
	}
	if n, prof := lessontest.LeakedGoroutines(t); n != 0 {
		t.Errorf("goroutineleak total = %d, want 0\n%s", n, prof)
	}
}

// TestLosersStopAtOnce runs in a synctest bubble with a fake clock: the call
// takes exactly the fastest replica's latency, and synctest.Test itself fails if
// any goroutine started inside the bubble is still blocked when it ends.
func TestLosersStopAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &pricing{replicas: 8, maxLatency: time.Second}
		start := time.Now()
		if _, err := p.first(t.Context(), "sku"); err != nil {
			t.Fatal(err)
		}
		winner := time.Since(start)
		synctest.Wait() // every loser has seen ctx.Done() and returned
		if time.Since(start) != winner {
			t.Errorf("losers kept the bubble busy after the winner answered")
		}
	})
}

// TestClientGone: a caller that gives up gets its error back at once, and the
// replicas stop.
func TestClientGone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &pricing{replicas: 3, maxLatency: time.Hour}
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		rec := httptest.NewRecorder()
		req := httptest.NewRequestWithContext(ctx, "GET", "/api/quote?sku=x", nil)
		p.handleQuote(rec, req)
		if rec.Code != http.StatusServiceUnavailable {
			t.Errorf("status %d, want 503", rec.Code)
		}
	})
}
