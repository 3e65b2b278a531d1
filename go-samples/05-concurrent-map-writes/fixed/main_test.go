package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

func view(c *viewCounter, page string) badge {
	rec := httptest.NewRecorder()
	recoverPanics(http.HandlerFunc(c.handleView)).ServeHTTP(rec, httptest.NewRequest("GET", "/view?page="+page, nil))
	var b badge
	json.Unmarshal(rec.Body.Bytes(), &b)
	return b
}

// Many goroutines view pages while others read /stats: every view is counted, every
// view number is handed out once, and go test -race (as CI runs it) finds no race.
// The test builds its own viewCounter: no package state to reset.
func TestConcurrentViewsAreExact(t *testing.T) {
	c := &viewCounter{pageViews: map[string]int{}}
	const workers, each, pages = 8, 1000, 5
	seen := make([]map[int64]bool, workers)
	var wg sync.WaitGroup
	for w := range workers {
		seen[w] = map[int64]bool{}
		wg.Go(func() {
			for i := range each {
				seen[w][view(c, fmt.Sprintf("/p%d", i%pages)).Views] = true
			}
		})
	}
	for range 2 { // readers of /stats at the same time
		wg.Go(func() {
			for range 200 {
				c.handleStats(httptest.NewRecorder(), httptest.NewRequest("GET", "/stats", nil))
			}
		})
	}
	wg.Wait()

	rec := httptest.NewRecorder()
	c.handleStats(rec, httptest.NewRequest("GET", "/stats", nil))
	var s stats
	if err := json.Unmarshal(rec.Body.Bytes(), &s); err != nil {
		t.Fatal(err)
	}
	if s.TotalViews != workers*each {
		t.Errorf("total_views = %d, want %d", s.TotalViews, workers*each)
	}
	for p := range pages {
		if got := s.Pages[fmt.Sprintf("/p%d", p)]; got != workers*each/pages {
			t.Errorf("views of /p%d = %d, want %d", p, got, workers*each/pages)
		}
	}
	numbers := map[int64]bool{}
	for _, m := range seen {
		for n := range m {
			if numbers[n] {
				t.Fatalf("view number %d handed out twice", n)
			}
			numbers[n] = true
		}
	}
	if len(numbers) != workers*each {
		t.Errorf("%d distinct view numbers, want %d", len(numbers), workers*each)
	}
}
