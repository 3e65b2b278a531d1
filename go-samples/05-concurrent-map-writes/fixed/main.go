// A view-counter badge service: GET /view?page=/pricing counts one view of the page and
// answers with the site-wide view number, for a "viewed N times" badge.
//
// The fix, in three steps:
//  1. the counts move into a viewCounter that owns them and the sync.Mutex guarding
//     the per-page map; the handlers are its methods, and main builds one and hands
//     them to the mux. Every read and write of the map, the copy made for GET /stats
//     included, happens with the lock held;
//  2. the site-wide counter is an atomic.Int64: Add(1) increments and returns the new
//     value in one indivisible step, so no view is lost and no number is handed out twice;
//  3. the tests hammer the handler from many goroutines and run with go test -race
//     in CI, so a new unguarded access fails the build instead of production.
//
// MODE=counters skips the per-page map, as in the broken program.
package main

import (
	"encoding/json"
	"expvar"
	"log"
	"maps"
	"net/http"
	"os"
	"sync"
	"sync/atomic"

	"gopitfalls/samples/internal/serve"
)

var viewsReceived = expvar.NewInt("views_received")

// trackPages is false with MODE=counters: only the site-wide counter is kept.
var trackPages = os.Getenv("MODE") != "counters"

// viewCounter owns the counts and the mutex that guards them. main makes one and hands
// its methods to the mux; a test makes its own, so nothing is shared by accident.
type viewCounter struct {
	mu         sync.Mutex
	pageViews  map[string]int // views per page; guarded by mu
	totalViews atomic.Int64   // views of every page
}

type badge struct {
	Page  string `json:"page"`
	Views int64  `json:"views"`
}

func (c *viewCounter) handleView(w http.ResponseWriter, r *http.Request) {
	viewsReceived.Add(1)
	page := r.URL.Query().Get("page")
	if trackPages {
		c.mu.Lock()
		c.pageViews[page]++ // every access to the map holds mu
		c.mu.Unlock()
	}
	// Increment and read in one step: each view gets its own number.
	writeBadge(w, page, c.totalViews.Add(1))
}

func writeBadge(w http.ResponseWriter, page string, n int64) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(badge{Page: page, Views: n})
}

type stats struct {
	TotalViews int64          `json:"total_views"`
	Pages      map[string]int `json:"pages"`
}

func (c *viewCounter) handleStats(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	pages := maps.Clone(c.pageViews) // encode a copy: the encoder must not iterate the live map
	c.mu.Unlock()
	s := stats{TotalViews: c.totalViews.Load(), Pages: pages}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(s)
}

// recoverPanics turns a handler panic into a 500 and a log line. It never could help
// with concurrent map writes (a fatal error, not a panic); the mutex above prevents them.
func recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				log.Printf("recovered from panic: %v", v)
				http.Error(w, "internal error", http.StatusInternalServerError)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func main() {
	views := &viewCounter{pageViews: map[string]int{}} // the one instance every request uses
	expvar.Publish("total_views", expvar.Func(func() any { return views.totalViews.Load() }))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /view", views.handleView)
	mux.HandleFunc("GET /stats", views.handleStats)
	log.Printf("per-page counts: %v", trackPages)
	// Server timeouts and a graceful shutdown, as lessons 20 and 21 teach.
	if err := serve.Run(serve.Addr(), recoverPanics(mux)); err != nil {
		log.Fatal(err)
	}
}
