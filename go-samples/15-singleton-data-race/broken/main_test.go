package main

import (
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func get(t *testing.T) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	handleRoute(rec, httptest.NewRequest("GET", "/route?tenant=acme", nil))
	return rec
}

// Without a reload in progress the handler answers the first document's route.
func TestRouteAnswersTheFirstDocument(t *testing.T) {
	routing = nil // package state: each test starts from a fresh table
	rec := get(t)
	var got route
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("status %d, body %q", rec.Code, rec.Body)
	}
	want := route{Tenant: "acme", Version: 1, Region: "eu-west-1",
		Host: "pg-eu-west-1.db.internal", Port: 5432}
	if got != want {
		t.Errorf("route = %+v, want %+v", got, want)
	}
}

// The pitfall, shown: while one goroutine reloads the table in place, readers see
// combinations of region, host and port that no document holds. Under -race the detector
// would fail this test at the first overlap, which is the point of running it in CI; the
// demonstration runs without it.
func TestReloadInPlaceTearsReads(t *testing.T) {
	if raceEnabled {
		t.Skip("reads and writes the table concurrently on purpose: -race reports it")
	}
	log.SetOutput(io.Discard) // the handler logs each torn read
	defer log.SetOutput(os.Stderr)
	routing = nil
	current()
	var torn, reads atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				reads.Add(1)
				if get(t).Code == http.StatusBadGateway {
					torn.Add(1)
				}
			}
		})
	}
	deadline := time.Now().Add(5 * time.Second)
	for i := 1; torn.Load() < 10 && time.Now().Before(deadline); i++ {
		current().apply(documents[i%len(documents)])
	}
	close(stop)
	wg.Wait()
	t.Logf("%d of %d reads torn", torn.Load(), reads.Load())
	if torn.Load() == 0 {
		t.Errorf("no torn read in %d reads during 5 s of reloads", reads.Load())
	}
}
