//go:build lesson

// These tests fail on purpose: they show what package-level configuration does to
// tests. CI leaves them out; the lesson runs them with
//
//	go test -tags lesson -count=5 -run 'TestItems' ./01-config-globals/broken/
//	go test -tags lesson -race -run 'TestReloadWhileServing' ./01-config-globals/broken/
//
// The same tests pass in the fixed program.
package main

import (
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// Three tests, each with its own settings, run in parallel: each one sets the shared
// variables, and the last one to do so decides what all three see.
func TestItemsPageOf50(t *testing.T) {
	t.Parallel()
	loadConfig(env{"DATABASE_URL": testDB, "MAX_ITEMS": "50"}.get)
	for range 20 {
		if status, p := getItems(t, ""); status != 200 || len(p.Items) != 50 {
			t.Fatalf("got %d with %d items, want 200 with 50", status, len(p.Items))
		}
	}
}

func TestItemsPageOf5(t *testing.T) {
	t.Parallel()
	loadConfig(env{"DATABASE_URL": testDB, "MAX_ITEMS": "5"}.get)
	for range 20 {
		if status, p := getItems(t, ""); status != 200 || len(p.Items) != 5 {
			t.Fatalf("got %d with %d items, want 200 with 5", status, len(p.Items))
		}
	}
}

func TestItemsWithoutDatabase(t *testing.T) {
	t.Parallel()
	loadConfig(env{"DATABASE_URL": "", "MAX_ITEMS": "50"}.get)
	for range 20 {
		if status, _ := getItems(t, ""); status != 500 {
			t.Fatalf("got %d, want 500", status)
		}
	}
}

// Reloads while requests are served: every response must be consistent with one
// configuration (as many items as its limit says). Run it with -race.
func TestReloadWhileServing(t *testing.T) {
	loadConfig(env{"DATABASE_URL": testDB, "MAX_ITEMS": "5"}.get)
	h := routes()
	done := make(chan struct{})
	reloader := make(chan struct{})
	go func() {
		defer close(reloader)
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			body := []string{"MAX_ITEMS=5", "MAX_ITEMS=10"}[i%2] + "\nDATABASE_URL=" + testDB
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/admin/reload", strings.NewReader(body)))
		}
	}()
	var readers sync.WaitGroup
	for range 4 {
		readers.Go(func() {
			for range 100 {
				if status, p := getItems(t, ""); status != 200 || len(p.Items) != p.Limit {
					t.Errorf("got %d with %d items and limit %d", status, len(p.Items), p.Limit)
				}
			}
		})
	}
	readers.Wait()
	close(done)
	<-reloader
}
