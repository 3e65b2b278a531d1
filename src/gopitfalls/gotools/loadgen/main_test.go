package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

type line struct {
	Type      string           `json:"type"`
	T         float64          `json:"t"`
	Sent      int64            `json:"sent"`
	Done      int64            `json:"done"`
	OK        int64            `json:"ok"`
	Errors    map[string]int64 `json:"errors"`
	Status    map[string]int64 `json:"status"`
	Inflight  int64            `json:"inflight"`
	P50       float64          `json:"p50_ms"`
	P90       float64          `json:"p90_ms"`
	P99       float64          `json:"p99_ms"`
	Max       float64          `json:"max_ms"`
	DurationS float64          `json:"duration_s"`
	LoadS     float64          `json:"load_s"`
	RPS       float64          `json:"rps"`
	Model     string           `json:"model"`
}

func baseConfig(url string) *config {
	return &config{
		URL: url, Method: "GET", Concurrency: 4, Duration: 2 * time.Second,
		Timeout: 2 * time.Second, Interval: 50 * time.Millisecond,
		MaxInflight: 10000, Keepalive: true,
	}
}

// runLines runs the generator and checks the output's shape: JSON lines,
// intervals, then exactly one summary whose counts are the intervals' sums.
func runLines(t *testing.T, cfg *config) (intervals []line, sum line) {
	t.Helper()
	var out bytes.Buffer
	if _, err := run(context.Background(), cfg, &out); err != nil {
		t.Fatalf("run: %v", err)
	}
	var all []line
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var l line
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		if err := dec.Decode(&l); err != nil {
			t.Fatalf("bad output line %q: %v", sc.Text(), err)
		}
		all = append(all, l)
	}
	if len(all) < 2 {
		t.Fatalf("want intervals and a summary, got %d lines", len(all))
	}
	sum = all[len(all)-1]
	if sum.Type != "summary" {
		t.Fatalf("last line is %q, want summary", sum.Type)
	}
	var s line
	s.Errors, s.Status = map[string]int64{}, map[string]int64{}
	for _, l := range all[:len(all)-1] {
		if l.Type != "interval" {
			t.Fatalf("line of type %q before the summary", l.Type)
		}
		if l.Errors == nil || l.Status == nil {
			t.Fatalf("interval without errors/status objects: %+v", l)
		}
		for k, v := range l.Errors {
			if v == 0 {
				t.Errorf("zero error key %q present", k)
			}
			s.Errors[k] += v
		}
		for k, v := range l.Status {
			s.Status[k] += v
		}
		s.Sent += l.Sent
		s.Done += l.Done
		s.OK += l.OK
	}
	if s.Sent != sum.Sent || s.Done != sum.Done || s.OK != sum.OK {
		t.Errorf("interval sums sent/done/ok %d/%d/%d != summary %d/%d/%d",
			s.Sent, s.Done, s.OK, sum.Sent, sum.Done, sum.OK)
	}
	for k, v := range sum.Errors {
		if s.Errors[k] != v && k != "timeout" {
			t.Errorf("errors[%s]: intervals %d, summary %d", k, s.Errors[k], v)
		}
	}
	for k, v := range sum.Status {
		if s.Status[k] != v {
			t.Errorf("status[%s]: intervals %d, summary %d", k, s.Status[k], v)
		}
	}
	if sum.Inflight != 0 {
		t.Errorf("summary inflight = %d, want 0", sum.Inflight)
	}
	return all[:len(all)-1], sum
}

func TestClosedCounts(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := hits.Add(1)
		if n%10 == 0 {
			w.WriteHeader(http.StatusGatewayTimeout)
		}
		fmt.Fprintf(w, "hello %d", n)
	}))
	defer srv.Close()
	cfg := baseConfig(srv.URL + "/x?y=1")
	cfg.Requests = 500
	_, sum := runLines(t, cfg)
	if sum.Sent != 500 || sum.Done != 500 || hits.Load() != 500 {
		t.Fatalf("sent %d done %d server saw %d, want 500", sum.Sent, sum.Done, hits.Load())
	}
	if sum.OK != 450 || sum.Status["200"] != 450 || sum.Status["504"] != 50 {
		t.Fatalf("ok %d status %v, want 450 ok, 450x200, 50x504", sum.OK, sum.Status)
	}
	if len(sum.Errors) != 0 {
		t.Fatalf("unexpected errors %v", sum.Errors)
	}
	if sum.Model != "closed" || sum.RPS <= 0 || sum.P50 <= 0 || sum.Max < sum.P99 || sum.P99 < sum.P90 || sum.P90 < sum.P50 {
		t.Fatalf("bad summary %+v", sum)
	}
}

// load_s is how long requests were sent: the whole -duration, or less when the
// -requests budget ran out first; duration_s adds the wait for the last answers.
func TestLoadTime(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(200 * time.Millisecond)
	}))
	defer srv.Close()
	cfg := baseConfig(srv.URL)
	cfg.Duration = 500 * time.Millisecond
	_, sum := runLines(t, cfg) // requests at 0, 0.2 and 0.4 s; the last ends at 0.6 s
	if sum.LoadS < 0.5 || sum.LoadS > 0.55 || sum.DurationS < sum.LoadS+0.05 {
		t.Errorf("duration-bound run: load_s %v, duration_s %v; want about 0.5 and 0.6", sum.LoadS, sum.DurationS)
	}
	cfg.Requests = 4
	_, sum = runLines(t, cfg)
	if sum.Done != 4 || sum.LoadS < 0.2 || sum.LoadS > 0.45 {
		t.Errorf("request-bound run: done %d, load_s %v; want 4 done after about 0.2 s", sum.Done, sum.LoadS)
	}
}

func TestMethodHeadersBody(t *testing.T) {
	type seen struct{ method, hdr, body, host string }
	got := make(chan seen, 100)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		select {
		case got <- seen{r.Method, r.Header.Get("X-Test"), string(b), r.Host}:
		default:
		}
	}))
	defer srv.Close()
	cfg := baseConfig(srv.URL)
	cfg.Method, cfg.Body, cfg.Requests, cfg.Concurrency = "POST", `{"a":1}`, 3, 1
	cfg.Headers = []header{{"X-Test", "v 1"}, {"Content-Type", "application/json"}}
	_, sum := runLines(t, cfg)
	if sum.OK != 3 {
		t.Fatalf("ok = %d, want 3 (%+v)", sum.OK, sum)
	}
	s := <-got
	if s.method != "POST" || s.hdr != "v 1" || s.body != `{"a":1}` || s.host != strings.TrimPrefix(srv.URL, "http://") {
		t.Fatalf("server saw %+v", s)
	}
}

func TestTimeoutAgainstHangingServer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // never answers; released when the client closes
	}))
	defer srv.Close()
	cfg := baseConfig(srv.URL)
	cfg.Concurrency, cfg.Duration, cfg.Timeout = 3, 500*time.Millisecond, 200*time.Millisecond
	_, sum := runLines(t, cfg)
	if sum.OK != 0 || sum.Done == 0 || sum.Errors["timeout"] != sum.Done || len(sum.Errors) != 1 {
		t.Fatalf("want only timeouts, got %+v", sum)
	}
	if sum.P50 < 190 || sum.P50 > 400 {
		t.Fatalf("timeout latency p50 %.1f ms, want ~200", sum.P50)
	}
	if sum.DurationS > 1.5 {
		t.Fatalf("run took %.2fs; in-flight requests should end at their timeout", sum.DurationS)
	}
}

func TestOpenModelRate(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	cfg := baseConfig(srv.URL)
	cfg.Rate, cfg.Duration = 200, time.Second
	ivs, sum := runLines(t, cfg)
	if sum.Sent < 180 || sum.Sent > 220 {
		t.Fatalf("sent %d at 200/s for 1s, want 180..220", sum.Sent)
	}
	if sum.OK != sum.Sent || sum.Model != "open" {
		t.Fatalf("summary %+v", sum)
	}
	// Arrivals are spread out: no 50 ms interval holds a large burst (~10 expected).
	for _, iv := range ivs[:len(ivs)-1] {
		if iv.Sent > 60 {
			t.Errorf("interval at %.2fs sent %d, want ~10", iv.T, iv.Sent)
		}
	}
}

func TestOpenModelNoCoordinatedOmission(t *testing.T) {
	// The server answers one request at a time and each takes 20 ms; at
	// 100/s (one every 10 ms) requests queue, and latencies from the intended
	// send time must grow well beyond the 20 ms service time.
	sem := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sem <- struct{}{}
		time.Sleep(20 * time.Millisecond)
		<-sem
	}))
	defer srv.Close()
	cfg := baseConfig(srv.URL)
	cfg.Rate, cfg.Duration, cfg.Connections = 100, 500*time.Millisecond, 1
	_, sum := runLines(t, cfg)
	if sum.Max < 100 {
		t.Fatalf("max latency %.1f ms: queueing delay not measured from the intended time", sum.Max)
	}
}

func TestOverload(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	defer srv.Close()
	cfg := baseConfig(srv.URL)
	cfg.Rate, cfg.Duration, cfg.MaxInflight, cfg.Timeout = 100, 300*time.Millisecond, 2, 200*time.Millisecond
	_, sum := runLines(t, cfg)
	if sum.Errors["overload"] == 0 || sum.Sent+sum.Errors["overload"] < 25 {
		t.Fatalf("want overload errors, got %+v", sum)
	}
}

func TestRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String() + "/"
	ln.Close()
	cfg := baseConfig(url)
	cfg.Requests, cfg.Concurrency = 5, 1
	_, sum := runLines(t, cfg)
	if sum.Errors["refused"] != 5 {
		t.Fatalf("want 5 refused, got %+v", sum)
	}
}

func TestKeepaliveOff(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	cfg := baseConfig(srv.URL)
	cfg.Requests, cfg.Concurrency = 40, 2
	_, sum := runLines(t, cfg)
	if sum.OK != 40 || conns.Load() > 2 {
		t.Fatalf("keep-alive: ok %d conns %d, want 40 ok on <= 2 conns", sum.OK, conns.Load())
	}
	conns.Store(0)
	cfg.Keepalive = false
	_, sum = runLines(t, cfg)
	if sum.OK != 40 || conns.Load() != 40 {
		t.Fatalf("no keep-alive: ok %d conns %d, want 40 and 40", sum.OK, conns.Load())
	}
}

func TestStaleKeepaliveRetried(t *testing.T) {
	// The server answers one request per connection claiming keep-alive, then
	// closes: the client must retry on a fresh connection, not report EOF.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					l, err := br.ReadString('\n')
					if err != nil || l == "\r\n" {
						break
					}
				}
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				time.Sleep(5 * time.Millisecond)
			}()
		}
	}()
	cfg := baseConfig("http://" + ln.Addr().String() + "/")
	cfg.Requests, cfg.Concurrency = 20, 1
	_, sum := runLines(t, cfg)
	if sum.OK != 20 || len(sum.Errors) != 0 {
		t.Fatalf("want 20 ok without errors, got %+v", sum)
	}
}

func TestChunkedAndBodyFraming(t *testing.T) {
	// net/http chunks a streamed body of unknown length.
	big := strings.Repeat("y", 100000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/chunked":
			for i := 0; i < 5; i++ {
				io.WriteString(w, big[:1000*(i+1)])
				w.(http.Flusher).Flush()
			}
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		default:
			io.WriteString(w, big)
		}
	}))
	defer srv.Close()
	for _, path := range []string{"/chunked", "/empty", "/big"} {
		cfg := baseConfig(srv.URL + path)
		cfg.Requests, cfg.Concurrency = 50, 2
		_, sum := runLines(t, cfg)
		if sum.Done != 50 || sum.OK != 50 || len(sum.Errors) != 0 {
			t.Fatalf("%s: %+v", path, sum)
		}
	}
}

// rawResponses serves canned bytes for every request on a connection, in
// order, and records how many connections were used.
func rawServer(t *testing.T, responses ...string) (url string, conns *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	conns = &atomic.Int64{}
	var next atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					for {
						l, err := br.ReadString('\n')
						if err != nil {
							return
						}
						if l == "\r\n" {
							break
						}
					}
					i := next.Add(1) - 1
					resp := responses[int(i)%len(responses)]
					if _, err := io.WriteString(c, resp); err != nil {
						return
					}
					if strings.Contains(resp, "Connection: close") || strings.HasPrefix(resp, "HTTP/1.0") {
						return
					}
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String() + "/", conns
}

func TestRawFraming(t *testing.T) {
	cases := []struct {
		name      string
		responses []string
		wantConns int64 // for 6 sequential requests
		wantOK    int64
	}{
		{"chunked with extensions and trailers", []string{
			"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n",
		}, 1, 6},
		{"chunked upper-case hex, lower-case headers", []string{
			"HTTP/1.1 201 Created\r\ntransfer-encoding: Chunked\r\n\r\n1F\r\n" + strings.Repeat("z", 31) + "\r\n0\r\n\r\n",
		}, 1, 6},
		{"content-length then 204 then 304", []string{
			"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
			"HTTP/1.1 204 No Content\r\n\r\n",
			"HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n",
		}, 1, 6},
		{"interim 100 continue", []string{
			"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		}, 1, 6},
		{"large chunks and large content-length", []string{
			"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n20000\r\n" + strings.Repeat("c", 0x20000) +
				"\r\n3\r\nabc\r\n0\r\n\r\n",
			"HTTP/1.1 200 OK\r\nContent-Length: 200000\r\n\r\n" + strings.Repeat("l", 200000),
		}, 1, 6},
		{"large close-delimited body", []string{
			"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + strings.Repeat("d", 300000),
		}, 6, 6},
		{"connection close", []string{
			"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
		}, 6, 6},
		{"http/1.0 close-delimited", []string{
			"HTTP/1.0 500 Oops\r\n\r\nbody until close",
		}, 6, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			url, conns := rawServer(t, tc.responses...)
			cfg := baseConfig(url)
			cfg.Requests, cfg.Concurrency = 6, 1
			_, sum := runLines(t, cfg)
			if sum.Done != 6 || sum.OK != tc.wantOK || len(sum.Errors) != 0 {
				t.Fatalf("summary %+v", sum)
			}
			if conns.Load() != tc.wantConns {
				t.Fatalf("used %d connections, want %d", conns.Load(), tc.wantConns)
			}
		})
	}
}

func TestRawErrors(t *testing.T) {
	cases := []struct{ name, resp, kind string }{
		{"truncated body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\nabc", "eof"},
		{"truncated chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n10\r\nabc", "eof"},
		{"garbage", "SSH-2.0-OpenSSH\r\n\r\nConnection: close\r\n", "other"},
		{"bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n", "other"},
		{"no response", "HTTP/1.0", "eof"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			url, _ := rawServer(t, tc.resp)
			cfg := baseConfig(url)
			cfg.Requests, cfg.Concurrency = 3, 1
			_, sum := runLines(t, cfg)
			if sum.Errors[tc.kind] != 3 {
				t.Fatalf("want 3 %q errors, got %+v", tc.kind, sum)
			}
		})
	}
}

func TestURLValidation(t *testing.T) {
	bad := []string{
		"http://example.com/", "http://10.0.0.1:80/", "https://127.0.0.1/",
		"http://0.0.0.0:8080/", "127.0.0.1:80", "", "ftp://localhost/",
	}
	for _, u := range bad {
		var stderr bytes.Buffer
		var stdout bytes.Buffer
		code := mainExit([]string{"-url", u, "-duration", "1s"}, &stdout, &stderr)
		if code != 2 || stdout.Len() != 0 || stderr.Len() == 0 {
			t.Errorf("%q: exit %d stdout %q stderr %q; want exit 2 with a message", u, code, stdout.String(), stderr.String())
		}
		if strings.Contains(u, "example.com") && !strings.Contains(stderr.String(), "non-loopback") {
			t.Errorf("%q: message %q should mention non-loopback", u, stderr.String())
		}
	}
	for _, u := range []string{"http://127.0.0.1:1/", "http://localhost:8080/a", "http://[::1]:80/", "http://127.5.6.7/"} {
		if _, _, _, err := parseTarget(u); err != nil {
			t.Errorf("%q refused: %v", u, err)
		}
	}
	for _, args := range [][]string{
		{"-url", "http://127.0.0.1:1/"},                     // no duration
		{"-url", "http://127.0.0.1:1/", "-duration", "11m"}, // too long
		{"-url", "http://127.0.0.1:1/", "-duration", "1s", "-rate", "-1"},
		{"-url", "http://127.0.0.1:1/", "-duration", "1s", "-rate", "NaN"},
		{"-url", "http://127.0.0.1:1/", "-duration", "1s", "-header", "nocolon"},
	} {
		if code := mainExit(args, io.Discard, io.Discard); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

func TestMainExitRuns(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	var stdout, stderr bytes.Buffer
	code := mainExit([]string{"-url", srv.URL, "-duration", "200ms", "-concurrency", "2",
		"-header", "X-A: b", "-interval", "50ms"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) < 3 || !strings.HasPrefix(lines[len(lines)-1], `{"type":"summary"`) ||
		!strings.HasPrefix(lines[0], `{"type":"interval","t":`) {
		t.Fatalf("output:\n%s", stdout.String())
	}
}

func TestHistogramAccuracy(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	var h histogram
	var vals []int64
	for i := 0; i < 200000; i++ {
		// log-uniform from 100 ns to 10 s
		v := int64(math.Exp(math.Log(100) + r.Float64()*(math.Log(1e10)-math.Log(100))))
		vals = append(vals, v)
		h.record(v)
	}
	sort.Slice(vals, func(i, j int) bool { return vals[i] < vals[j] })
	for _, q := range []float64{0.01, 0.1, 0.5, 0.9, 0.99, 0.999, 1} {
		exact := vals[int(math.Ceil(q*float64(len(vals))))-1]
		got := h.quantile(q)
		if rel := math.Abs(float64(got-exact)) / float64(exact); rel > 0.01 {
			t.Errorf("q%.3f: got %d exact %d (%.3f%% off)", q, got, exact, rel*100)
		}
	}
	// every bucket boundary round-trips
	for v := int64(0); v < 1<<20; v += 7 {
		lo, hi := bucketBounds(bucketIndex(v))
		if v < lo || v > hi || float64(hi-lo) > float64(lo)/128+1 {
			t.Fatalf("v=%d bucket [%d,%d]", v, lo, hi)
		}
	}
	var m histogram
	m.merge(&h)
	h.reset()
	if m.n != 200000 || h.n != 0 || h.quantile(0.5) != 0 {
		t.Fatal("merge/reset")
	}
	h.record(5)
	if h.quantile(0.5) != 5 || h.max != 5 {
		t.Fatal("record after reset")
	}
}

func TestClassify(t *testing.T) {
	if classify(errPoolTimeout) != kindTimeout || classify(io.EOF) != kindEOF ||
		classify(io.ErrUnexpectedEOF) != kindEOF || classify(errMalformed) != kindOther {
		t.Fatal("classify")
	}
}
