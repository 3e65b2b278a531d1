// A view-counter badge service: GET /view?page=/pricing counts one view of the page and
// answers with the site-wide view number, for a "viewed N times" badge.
//
// The pitfall: the counts live in a package-level map and a plain int that every
// handler writes. net/http runs each request on its own goroutine, so two requests
// write them at the same time:
//   - the map: the runtime notices the overlapping writes and aborts the whole process
//     with "fatal error: concurrent map writes" (exit code 2). That is not a panic:
//     the recover() in the middleware below never runs.
//   - the int: nothing notices. Two overlapping requests read the same value and
//     both store value+1, so views are lost without any error.
//
// MODE=counters skips the per-page map, so the process survives and the lost updates
// of the int can be measured: compare views_received (an expvar.Int, which is atomic)
// with total_views (the service's own int, in GET /stats and as an expvar).
// INCREMENT=plain counts with a bare totalViews++ instead of the wider split below.
package main

import (
	"encoding/json"
	"expvar"
	"log"
	"net/http"
	"os"
)

var viewsReceived = expvar.NewInt("views_received")

// trackPages is false with MODE=counters: only the site-wide counter is kept.
var trackPages = os.Getenv("MODE") != "counters"

// plainIncrement is true with INCREMENT=plain: the counter is bumped with totalViews++.
var plainIncrement = os.Getenv("INCREMENT") == "plain"

// The counts: package-level variables, written by every request's goroutine.
var (
	pageViews  = map[string]int{} // views per page
	totalViews int64              // views of every page
)

// total_views publishes the service's own counter next to views_received.
func init() { expvar.Publish("total_views", expvar.Func(func() any { return totalViews })) }

type badge struct {
	Page  string `json:"page"`
	Views int64  `json:"views"`
}

func handleView(w http.ResponseWriter, r *http.Request) {
	viewsReceived.Add(1)
	page := r.URL.Query().Get("page")
	if trackPages {
		pageViews[page]++
	}
	if plainIncrement {
		totalViews++ // a load, an add and a store: another request can run in between
		writeBadge(w, page, totalViews)
		return
	}
	// Made wider on purpose, so that the loss shows in a short run: the view takes its
	// number, the badge is encoded, and only then is the total stored. totalViews++ has
	// the same gap between its read and its write, only a few instructions wide: it
	// loses views too, fewer of them (INCREMENT=plain).
	n := totalViews + 1
	writeBadge(w, page, n)
	totalViews = n
}

func writeBadge(w http.ResponseWriter, page string, n int64) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(badge{Page: page, Views: n})
}

type stats struct {
	TotalViews int64          `json:"total_views"`
	Pages      map[string]int `json:"pages"`
}

func handleStats(w http.ResponseWriter, r *http.Request) {
	s := stats{TotalViews: totalViews, Pages: pageViews}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(s)
}

// recoverPanics turns a handler panic into a 500 and a log line. It cannot help with
// concurrent map writes: the runtime reports those with a fatal error, which ends the
// process without unwinding the stack, so no deferred function runs.
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
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	log.Printf("listening on %s (plain ++: %v)", addr, plainIncrement)
	log.Fatal(http.ListenAndServe(addr, recoverPanics(mux)))
}
