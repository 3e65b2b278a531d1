// A link shortener: GET /r/{code} redirects to the link's target and counts the click,
// GET /links/{code} shows a link, DELETE /links/{code} removes it. GET /metrics serves
// its metrics in the Prometheus text format.
//
// Your task: every new short link adds a handful of series to /metrics, and they stay
// until the process restarts. After a day of traffic the scrape is megabytes and the
// monitoring bill follows. Make the number of series depend on the routes the code
// declares, not on the links people create: keep counting every request by route and
// status (a dashboard needs GET /r/{code}, GET /links/{code} and DELETE /links/{code}
// apart), and keep counting the clicks. The TODO markers show where.
// `gopitfalls check 17` judges your version.
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

type shortener struct {
	reg *promtext.Registry
	// TODO: path is the raw URL path, and every link has a path of its own.
	requests *promtext.CounterVec
	latency  *promtext.HistogramVec
	// TODO: one series per link ever clicked.
	clicks *promtext.CounterVec
}

func newShortener() *shortener {
	reg := promtext.NewRegistry()
	return &shortener{
		reg: reg,
		requests: reg.Counter("shrt_http_requests_total", "HTTP requests.",
			"method", "path", "status"),
		latency: reg.Histogram("shrt_http_request_seconds", "HTTP request latency.",
			latencyBuckets, "path"),
		clicks: reg.Counter("shrt_clicks_total", "Redirects served, by link.", "code"),
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
	// TODO: the click is worth counting, but not once per link.
	s.clicks.Inc(c)
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
		// TODO: label by something with a few values, whatever the traffic.
		s.requests.Inc(r.Method, r.URL.Path, strconv.Itoa(rec.status))
		s.latency.Observe(time.Since(start).Seconds(), r.URL.Path)
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
