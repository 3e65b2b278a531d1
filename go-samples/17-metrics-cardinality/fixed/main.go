// Command fixed is the lesson 17 shop service after the fix. HTTP metrics are
// labelled by the route pattern that matched (r.Pattern) and the status class,
// so their series are bounded by the routes the code declares, not by the users
// who call them; the business event has a family of its own, apart from the
// HTTP and runtime ones; and the user's id goes to the log line of the order,
// where one id per line costs nothing, instead of into a label.
package main

import (
	"encoding/json"
	"expvar"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"os"
	"runtime/metrics"
	"strconv"
	"time"

	"gopitfalls/samples/internal/promtext"
	"gopitfalls/samples/internal/serve"
)

// latencyBuckets are the upper bounds (seconds) of the request duration histogram.
var latencyBuckets = []float64{0.001, 0.005, 0.025, 0.1}

type shop struct {
	reg *promtext.Registry
	log *slog.Logger
	// HTTP: one series per route pattern and status class.
	requests *promtext.CounterVec
	duration *promtext.HistogramVec
	// Business: what the shop sells, in a family of its own.
	ordersPlaced *promtext.CounterVec
}

func newShop(logger *slog.Logger) *shop {
	reg := promtext.NewRegistry()
	s := &shop{
		reg: reg,
		log: logger,
		requests: reg.Counter("http_requests_total", "HTTP requests by route pattern and status class.",
			"route", "code"),
		duration: reg.Histogram("http_request_duration_seconds", "HTTP request duration by route pattern.",
			latencyBuckets, "route"),
		ordersPlaced: reg.Counter("shop_orders_placed_total", "Orders placed."),
	}
	// Runtime: read from runtime/metrics at every scrape.
	runtimeGauge(reg, "go_goroutines", "Live goroutines.", "/sched/goroutines:goroutines")
	runtimeGauge(reg, "go_heap_live_bytes", "Heap bytes live after the last GC.", "/gc/heap/live:bytes")
	return s
}

func runtimeGauge(reg *promtext.Registry, name, help, metric string) {
	reg.GaugeFunc(name, help, func() float64 {
		s := []metrics.Sample{{Name: metric}}
		metrics.Read(s)
		return float64(s[0].Value.Uint64())
	})
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
	order := id*10 + 2
	s.ordersPlaced.Inc()
	// The id belongs to the event's log line: searchable, and free of series.
	s.log.Info("order placed", "user", id, "order", order)
	w.WriteHeader(http.StatusCreated)
	writeJSON(w, map[string]any{"user": id, "order": order})
}

// instrument counts every request by the pattern the mux matched and its
// status class. The mux sets r.Pattern on this same request while it routes, so
// it is known once next returns; a request no route matched has none.
func (s *shop) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		s.requests.Inc(route, statusClass(rec.status))
		s.duration.Observe(time.Since(start).Seconds(), route)
	})
}

// statusClass is "2xx", "4xx", ...: five values at most.
func statusClass(code int) string {
	if code < 100 || code > 599 {
		return "other"
	}
	return strconv.Itoa(code/100) + "xx"
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
	s := newShop(slog.New(slog.NewJSONHandler(os.Stderr, nil)))
	// The series the next scrape will hold, for the lab's live plot.
	expvar.Publish("metric_series", expvar.Func(func() any { return s.reg.Series() }))
	if err := serve.Run(serve.Addr(), newHandler(s)); err != nil {
		log.Fatal(err)
	}
}
