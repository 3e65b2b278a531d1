// A view-counter badge service: GET /view?page=/pricing counts one view of the page and
// answers with the site-wide view number, for a "viewed N times" badge.
//
// The fix, in three steps:
//  1. the per-page map is guarded by a sync.Mutex: every read and write of it, the
//     copy made for GET /stats included, happens with the lock held;
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

// total_views publishes the service's own counter next to views_received.
func init() { expvar.Publish("total_views", expvar.Func(func() any { return totalViews.Load() })) }

// trackPages is false with MODE=counters: only the site-wide counter is kept.
var trackPages = os.Getenv("MODE") != "counters"

var (
	mu         sync.Mutex
	pageViews  = map[string]int{} // views per page; guarded by mu
	totalViews atomic.Int64       // views of every page
)

type badge struct {
	Page  string `json:"page"`
	Views int64  `json:"views"`
}

func handleView(w http.ResponseWriter, r *http.Request) {
	viewsReceived.Add(1)
	page := r.URL.Query().Get("page")
	if trackPages {
		mu.Lock()
		pageViews[page]++ // every access to the map holds mu
		mu.Unlock()
	}
	// Increment and read in one step: each view gets its own number.
	n := totalViews.Add(1)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(badge{Page: page, Views: n})
}

type stats struct {
	TotalViews int64          `json:"total_views"`
	Pages      map[string]int `json:"pages"`
}

func handleStats(w http.ResponseWriter, r *http.Request) {
	mu.Lock()
	pages := maps.Clone(pageViews) // encode a copy: the encoder must not iterate the live map
	mu.Unlock()
	s := stats{TotalViews: totalViews.Load(), Pages: pages}
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
	mux := http.NewServeMux()
	mux.HandleFunc("GET /view", handleView)
	mux.HandleFunc("GET /stats", handleStats)
	log.Printf("per-page counts: %v", trackPages)
	// Server timeouts and a graceful shutdown, as lessons 20 and 21 teach.
	if err := serve.Run(serve.Addr(), recoverPanics(mux)); err != nil {
		log.Fatal(err)
	}
}
