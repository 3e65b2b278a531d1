// Lab 17, a wrong fix: the path is "normalised" by replacing every run of digits with
// :n, as one would for numeric ids (/users/123 -> /users/:n). The short codes mix letters
// and digits, so /r/aB3xY9q becomes /r/aB:nxY:nq: still one path, and one set of series,
// per link. Expected to fail request_series_do_not_grow_with_the_links.
package main

import (
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"gopitfalls/samples/internal/promtext"
	"gopitfalls/samples/internal/serve"
)

// latencyBuckets are the upper bounds (seconds) of the latency histogram.
var latencyBuckets = []float64{0.002, 0.01, 0.05, 0.25}

// validCode is what a short code looks like: 6 to 8 letters and digits.
var validCode = regexp.MustCompile(`^[A-Za-z0-9]{6,8}$`)

// digits matches the ids in a path.
var digits = regexp.MustCompile(`[0-9]+`)

type shortener struct {
	reg      *promtext.Registry
	requests *promtext.CounterVec
	latency  *promtext.HistogramVec
	clicks   *promtext.CounterVec
}

func newShortener() *shortener {
	reg := promtext.NewRegistry()
	return &shortener{
		reg: reg,
		requests: reg.Counter("shrt_http_requests_total", "HTTP requests.",
			"method", "path", "status"),
		latency: reg.Histogram("shrt_http_request_seconds", "HTTP request latency.",
			latencyBuckets, "path"),
		clicks: reg.Counter("shrt_clicks_total", "Redirects served."),
	}
}

// code is the {code} of the path, when it looks like one.
func code(w http.ResponseWriter, r *http.Request) (string, bool) {
	c := r.PathValue("code")
	if !validCode.MatchString(c) {
		http.Error(w, "bad short code", http.StatusBadRequest)
		return "", false
	}
	return c, true
}

func target(c string) string { return "https://example.org/articles/" + c }

func (s *shortener) redirect(w http.ResponseWriter, r *http.Request) {
	c, ok := code(w, r)
	if !ok {
		return
	}
	s.clicks.Inc()
	http.Redirect(w, r, target(c), http.StatusFound)
}

func (s *shortener) show(w http.ResponseWriter, r *http.Request) {
	c, ok := code(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]string{"code": c, "target": target(c)})
}

func (s *shortener) remove(w http.ResponseWriter, r *http.Request) {
	if _, ok := code(w, r); !ok {
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// instrument counts and times every request of next.
func (s *shortener) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		path := digits.ReplaceAllString(r.URL.Path, ":n")
		s.requests.Inc(r.Method, path, strconv.Itoa(rec.status))
		s.latency.Observe(time.Since(start).Seconds(), path)
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

func newHandler(s *shortener) http.Handler {
	links := http.NewServeMux()
	links.HandleFunc("GET /r/{code}", s.redirect)
	links.HandleFunc("GET /links/{code}", s.show)
	links.HandleFunc("DELETE /links/{code}", s.remove)

	root := http.NewServeMux()
	root.Handle("/", s.instrument(links))
	root.Handle("GET /metrics", s.reg.Handler())
	root.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	return root
}

func main() {
	if err := serve.Run(serve.Addr(), newHandler(newShortener())); err != nil {
		log.Fatal(err)
	}
}
