package promtext

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

func TestExpositionFormat(t *testing.T) {
	r := NewRegistry()
	c := r.Counter("app_requests_total", "Requests.\nBy route \\ code.", "route", "code")
	h := r.Histogram("app_duration_seconds", "How long.", []float64{0.1, 1}, "route")
	r.GaugeFunc("app_up", "One.", func() float64 { return 1 })
	c.Inc("GET /a/{id}", "2xx")
	c.Add(2, `say "hi"\`+"\n", "4xx")
	h.Observe(0.1, "x") // on a bound: counted in le="0.1"
	h.Observe(0.5, "x")
	h.Observe(7, "x")
	var b strings.Builder
	n, err := r.WriteTo(&b)
	if err != nil || int(n) != b.Len() {
		t.Fatalf("WriteTo = %d, %v; wrote %d bytes", n, err, b.Len())
	}
	want := `# HELP app_requests_total Requests.\nBy route \\ code.
# TYPE app_requests_total counter
app_requests_total{route="GET /a/{id}",code="2xx"} 1
app_requests_total{route="say \"hi\"\\\n",code="4xx"} 2
# HELP app_duration_seconds How long.
# TYPE app_duration_seconds histogram
app_duration_seconds_bucket{route="x",le="0.1"} 1
app_duration_seconds_bucket{route="x",le="1"} 2
app_duration_seconds_bucket{route="x",le="+Inf"} 3
app_duration_seconds_sum{route="x"} 7.6
app_duration_seconds_count{route="x"} 3
# HELP app_up One.
# TYPE app_up gauge
app_up 1
`
	if b.String() != want {
		t.Errorf("exposition:\n%s\nwant:\n%s", b.String(), want)
	}
	// 2 counter series, 1 histogram series × (2 bounds + +Inf + _sum + _count), 1 gauge
	if got := r.Series(); got != 2+5+1 {
		t.Errorf("Series() = %d, want 8", got)
	}
}

func TestHandlerAndConcurrentUse(t *testing.T) {
	r := NewRegistry()
	c := r.Counter("hits_total", "Hits.", "k")
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				c.Inc(string(rune('a' + (g+i)%3)))
			}
		}()
	}
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	for range 5 {
		resp, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); ct != ContentType {
			t.Errorf("Content-Type %q", ct)
		}
	}
	wg.Wait()
	var b strings.Builder
	r.WriteTo(&b)
	if !strings.Contains(b.String(), `hits_total{k="a"} `) || r.Series() != 3 {
		t.Errorf("after concurrent use: %d series\n%s", r.Series(), b.String())
	}
}

func TestRegistrationMistakesPanic(t *testing.T) {
	for name, register := range map[string]func(r *Registry){
		"bad name":   func(r *Registry) { r.Counter("9lives", "x") },
		"le label":   func(r *Registry) { r.Histogram("h", "x", []float64{1}, "le") },
		"duplicate":  func(r *Registry) { r.Counter("a", "x"); r.Counter("a", "x") },
		"bad bounds": func(r *Registry) { r.Histogram("h", "x", []float64{2, 1}) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			register(NewRegistry())
		}()
	}
}
