package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func get(t *testing.T) (int, route) {
	t.Helper()
	rec := httptest.NewRecorder()
	handleRoute(rec, httptest.NewRequest("GET", "/route?tenant=acme", nil))
	var r route
	if rec.Code == http.StatusOK {
		if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
			t.Fatalf("body %q: %v", rec.Body, err)
		}
	}
	return rec.Code, r
}

// Many first callers at once get one and the same table (sync.Once).
func TestFirstUseMakesOneTable(t *testing.T) {
	tables := make([]*Routing, 8)
	var wg sync.WaitGroup
	for i := range tables {
		wg.Go(func() { tables[i] = current() })
	}
	wg.Wait()
	for i, tbl := range tables {
		if tbl == nil || tbl != tables[0] {
			t.Fatalf("caller %d got table %p, caller 0 got %p", i, tbl, tables[0])
		}
	}
}

// The test that catches the tear: readers call the handler while the table is reloaded
// thousands of times. Every answer is a whole document, each reader sees the version only
// go forward, and go test -race (as CI runs it) finds no race.
func TestReloadWhileReadingNeverTears(t *testing.T) {
	const readers, atLeast = 4, 2000 // reads and reloads, each
	done := make(chan struct{})
	var reads, torn, backwards atomic.Int64
	var wg sync.WaitGroup
	for range readers {
		wg.Go(func() {
			var last int64
			for {
				select {
				case <-done:
					return
				default:
				}
				code, r := get(t)
				reads.Add(1)
				if code != http.StatusOK {
					torn.Add(1) // 502: region, host and port from different documents
					continue
				}
				if r.Version < last {
					backwards.Add(1)
				}
				last = r.Version
			}
		})
	}
	start, deadline := current().Version, time.Now().Add(20*time.Second)
	n := int64(0)
	for n < atLeast || reads.Load() < atLeast && time.Now().Before(deadline) {
		n++
		if err := reload(documents[n%int64(len(documents))]); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	wg.Wait()
	t.Logf("%d reads during %d reloads", reads.Load(), n)
	if torn.Load() > 0 || backwards.Load() > 0 {
		t.Errorf("%d torn reads, %d versions going back", torn.Load(), backwards.Load())
	}
	if reads.Load() < atLeast {
		t.Errorf("only %d reads in 20 s of reloads", reads.Load())
	}
	if got := current().Version; got != start+n {
		t.Errorf("version %d after %d reloads from %d", got, n, start)
	}
}

// A document that does not parse leaves the current table in place.
func TestBadDocumentKeepsTheTable(t *testing.T) {
	before := current()
	if err := reload("region=ap-south-1\nhost=pg-ap-south-1.db.internal\nport=abc\n"); err == nil {
		t.Fatal("reload accepted port=abc")
	}
	if current() != before {
		t.Errorf("table changed to %+v after a failed reload", *current())
	}
}
