// Command broken is the lesson 17 shop service with its metrics written the way
// they often are at first: the raw request path and the user's id are labels,
// and one family counts both HTTP requests and orders. Every new user adds a
// dozen series that the process keeps until it restarts, so /metrics, the
// memory behind it and the time to scrape it grow with the number of users.
package main

import (
	"encoding/json"
	"expvar"
	"fmt"
	"log"
	"net/http"
	"runtime"
	"strconv"
	"time"

	"gopitfalls/samples/internal/promtext"
	"gopitfalls/samples/internal/serve"
)

// latencyBuckets are the upper bounds (seconds) of the request duration histogram.
var latencyBuckets = []float64{0.001, 0.005, 0.025, 0.1}

type shop struct {
	reg *promtext.Registry
	// One family for everything the shop counts: kind says whether a sample is an
	// HTTP request or an order, and user and path carry the caller's id.
	events   *promtext.CounterVec
	duration *promtext.HistogramVec
}

func newShop() *shop {
	reg := promtext.NewRegistry()
	s := &shop{
		reg: reg,
		events: reg.Counter("shop_events_total", "Requests and orders of the shop.",
			"kind", "method", "path", "status", "user"),
		duration: reg.Histogram("shop_request_duration_seconds", "Request duration.",
			latencyBuckets, "method", "path"),
	}
	reg.GaugeFunc("shop_goroutines", "Goroutines of the process.", func() float64 {
		return float64(runtime.NumGoroutine())
	})
	return s
}

// userID is the {id} of the path, a positive number.
func userID(r *http.Request) (int, bool) {
	id, err := strconv.Atoi(r.PathValue("id"))
	return id, err == nil && id > 0
}

func (s *shop) profile(w http.ResponseWriter, r *http.Request) {
	id, ok := userID(r)
	if !ok {
		http.Error(w, "bad user id", http.StatusBadRequest)
		return
	}
	writeJSON(w, map[string]any{"user": id, "name": fmt.Sprintf("user-%d", id)})
}

func (s *shop) orders(w http.ResponseWriter, r *http.Request) {
	id, ok := userID(r)
	if !ok {
		http.Error(w, "bad user id", http.StatusBadRequest)
		return
	}
	writeJSON(w, map[string]any{"user": id, "orders": []int{id * 10, id*10 + 1}})
}

func (s *shop) placeOrder(w http.ResponseWriter, r *http.Request) {
	id, ok := userID(r)
	if !ok {
		http.Error(w, "bad user id", http.StatusBadRequest)
		return
	}
	// The business event, counted in the same family as the requests.
	s.events.Inc("order", "", "", "", strconv.Itoa(id))
	w.WriteHeader(http.StatusCreated)
	writeJSON(w, map[string]any{"user": id, "order": id*10 + 2})
}

// instrument counts every request by its raw path and the user it names.
func (s *shop) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		s.events.Inc("http_request", r.Method, r.URL.Path, strconv.Itoa(rec.status), r.PathValue("id"))
		s.duration.Observe(time.Since(start).Seconds(), r.Method, r.URL.Path)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func newHandler(s *shop) http.Handler {
	app := http.NewServeMux()
	app.HandleFunc("GET /users/{id}/profile", s.profile)
	app.HandleFunc("GET /users/{id}/orders", s.orders)
	app.HandleFunc("POST /users/{id}/orders", s.placeOrder)

	root := http.NewServeMux()
	root.Handle("/", s.instrument(app))
	root.Handle("GET /metrics", s.reg.Handler())
	root.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	return root
}

func main() {
	s := newShop()
	// The series the next scrape will hold, for the lab's live plot.
	expvar.Publish("metric_series", expvar.Func(func() any { return s.reg.Series() }))
	if err := serve.Run(serve.Addr(), newHandler(s)); err != nil {
		log.Fatal(err)
	}
}
