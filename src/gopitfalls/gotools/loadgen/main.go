// Command loadgen is the course's HTTP load generator (loopback targets only).
//
// Open model (-rate > 0): request i is due at start + i/rate and its latency
// is measured from that intended time, so a slow server cannot slow the
// arrivals down (no coordinated omission). Closed model (-rate 0):
// -concurrency workers each send requests back to back.
//
// Output: JSON lines on stdout, one {"type":"interval",...} per -interval and
// one {"type":"summary",...} at the end. Diagnostics go to stderr.
//
// The program under test usually shares the machine, so loadgen runs Go code on
// half the CPUs (at least one) unless GOMAXPROCS says otherwise.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const maxDuration = 10 * time.Minute

var cpuProfile string

type config struct {
	URL         string
	Method      string
	Headers     []header
	Body        string
	Rate        float64
	Concurrency int
	Duration    time.Duration
	Requests    int64
	Timeout     time.Duration
	Interval    time.Duration
	MaxInflight int
	Keepalive   bool
	Connections int
}

type headerFlag []header

func (h *headerFlag) String() string { return fmt.Sprint(*h) }

func (h *headerFlag) Set(s string) error {
	name, value, ok := strings.Cut(s, ":")
	name = strings.TrimSpace(name)
	if !ok || name == "" {
		return fmt.Errorf("header %q: want \"Name: value\"", s)
	}
	*h = append(*h, header{name, strings.TrimSpace(value)})
	return nil
}

func main() {
	if os.Getenv("GOMAXPROCS") == "" {
		// Measured on 2 cores against a Go server (benchmarks/loadgen_vs_wrk.py): on a busy
		// machine one P cut the CPU per request of loadgen (14 vs 15 us) and of the server
		// (23 vs 25 us), as idle Ps stop spinning on the core the server needs; on a quiet
		// machine the throughput is the same either way.
		runtime.GOMAXPROCS(max(1, runtime.NumCPU()/2))
	}
	os.Exit(mainExit(os.Args[1:], os.Stdout, os.Stderr))
}

func mainExit(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "loadgen:", err)
		}
		return 2
	}
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			fmt.Fprintln(stderr, "loadgen:", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(stderr, "loadgen:", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if _, err := run(ctx, cfg, stdout); err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		var ue usageError
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	return 0
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := &config{}
	var headers headerFlag
	fs.StringVar(&cfg.URL, "url", "", "target URL, http:// on a loopback host (required)")
	fs.StringVar(&cfg.Method, "method", "GET", "HTTP method")
	fs.Var(&headers, "header", "request header \"Name: value\" (repeatable)")
	fs.StringVar(&cfg.Body, "body", "", "request body")
	fs.Float64Var(&cfg.Rate, "rate", 0, "open model: requests per second (0: closed model)")
	fs.IntVar(&cfg.Concurrency, "concurrency", 10, "closed model: number of workers")
	fs.DurationVar(&cfg.Duration, "duration", 0, "how long to send (required, > 0, at most 10m)")
	fs.Int64Var(&cfg.Requests, "requests", 0, "stop after this many requests (0: no limit)")
	fs.DurationVar(&cfg.Timeout, "timeout", 5*time.Second, "per-request timeout")
	fs.DurationVar(&cfg.Interval, "interval", 100*time.Millisecond, "interval between summaries")
	fs.IntVar(&cfg.MaxInflight, "max-inflight", 10000, "open model: cap on concurrent requests; arrivals over it count as \"overload\"")
	fs.BoolVar(&cfg.Keepalive, "keepalive", true, "reuse connections (false: one connection per request)")
	fs.IntVar(&cfg.Connections, "connections", 0, "max open connections (0: -concurrency in the closed model, no cap in the open model)")
	fs.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of loadgen itself to this file (debugging)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	cfg.Headers = headers
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// open reports whether the run uses the open model (a fixed arrival rate).
func (c *config) open() bool { return c.Rate > 0 }

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

func (c *config) validate() error {
	if _, _, _, err := parseTarget(c.URL); err != nil {
		return err
	}
	if c.Method == "" || strings.ContainsAny(c.Method, " \t\r\n") {
		return usagef("-method %q is not a valid HTTP method", c.Method)
	}
	for _, h := range c.Headers {
		if strings.ContainsAny(h.name, " \t\r\n:") || strings.ContainsAny(h.value, "\r\n") {
			return usagef("-header %q: invalid characters", h.name+": "+h.value)
		}
	}
	switch {
	case c.Duration <= 0:
		return usagef("-duration is required and must be > 0 (e.g. -duration 5s)")
	case c.Duration > maxDuration:
		return usagef("-duration %v is over the %v maximum", c.Duration, maxDuration)
	case c.Rate < 0 || math.IsNaN(c.Rate) || c.Rate > 1e7:
		return usagef("-rate must be between 0 and 1e7 requests/s")
	case c.Rate == 0 && c.Concurrency < 1:
		return usagef("-concurrency must be >= 1")
	case c.Concurrency > 100000:
		return usagef("-concurrency must be <= 100000")
	case c.Requests < 0:
		return usagef("-requests must be >= 0")
	case c.Timeout <= 0:
		return usagef("-timeout must be > 0")
	case c.Interval < time.Millisecond:
		return usagef("-interval must be >= 1ms")
	case c.MaxInflight < 1:
		return usagef("-max-inflight must be >= 1")
	case c.Connections < 0:
		return usagef("-connections must be >= 0")
	}
	return nil
}

// parseTarget checks that raw is an http:// URL on a loopback host and
// returns the address to dial, the Host header and the request-URI.
func parseTarget(raw string) (addr, host, requestURI string, err error) {
	if raw == "" {
		return "", "", "", usagef("-url is required (e.g. -url http://127.0.0.1:8080/)")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", "", usagef("-url %q: %v", raw, err)
	}
	if u.Scheme != "http" {
		return "", "", "", usagef("-url %q: only http:// is supported", raw)
	}
	hostname := u.Hostname()
	if !isLoopback(hostname) {
		return "", "", "", usagef("-url %q: refusing non-loopback host %q (use 127.0.0.1, ::1 or localhost)", raw, hostname)
	}
	port := u.Port()
	if port == "" {
		port = "80"
	}
	requestURI = u.RequestURI()
	if requestURI == "" {
		requestURI = "/"
	}
	return net.JoinHostPort(hostname, port), u.Host, requestURI, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// run generates the load and writes the JSON lines to out.
func run(ctx context.Context, cfg *config, out io.Writer) (*summary, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	addr, host, uri, _ := parseTarget(cfg.URL)
	tgt := newTarget(addr, host, uri, strings.ToUpper(cfg.Method), cfg.Headers, cfg.Body, cfg.Keepalive)
	p := newPool(tgt, maxConnections(cfg), cfg.MaxInflight)
	col := newCollector(shardCount(cfg))

	w := openWindow(ctx, cfg.Duration)
	defer w.timer.Stop()
	genDone := startGenerator(cfg, p, col, w)

	em := &emitter{enc: json.NewEncoder(out)}
	abandoned := reportIntervals(cfg, col, w, genDone, em)
	end := time.Since(w.start)
	iv := col.collect()
	if abandoned {
		countAbandoned(col, iv)
	}
	em.emit(makeReport("interval", end.Seconds(), iv, col.inflight()))
	p.closeIdle()

	s := makeSummary(cfg, col, end, w.stoppedAfter())
	em.emit(s)
	if em.err != nil {
		return s, fmt.Errorf("writing output: %w", em.err)
	}
	return s, nil
}

// maxConnections is the cap on open connections: -connections, or in the closed
// model one per worker when it is not given (0: no cap).
func maxConnections(cfg *config) int {
	if !cfg.open() && cfg.Connections == 0 {
		return cfg.Concurrency
	}
	return cfg.Connections
}

// shardCount is how many result shards to use: one per worker in the closed model.
func shardCount(cfg *config) int {
	if cfg.open() {
		return 64
	}
	return cfg.Concurrency
}

// window is the time during which requests may start. It opens when created and
// closes, once, when the duration is up, the context is cancelled or the generator
// has finished.
type window struct {
	start  time.Time
	closed chan struct{}
	once   sync.Once
	stopAt atomic.Int64 // ns since start at which the window closed
	timer  *time.Timer  // closes the window at the end of the duration
}

func openWindow(ctx context.Context, d time.Duration) *window {
	w := &window{start: time.Now(), closed: make(chan struct{})}
	w.timer = time.AfterFunc(d, w.close)
	go func() {
		select {
		case <-ctx.Done():
			w.close()
		case <-w.closed:
		}
	}()
	return w
}

func (w *window) close() {
	w.once.Do(func() {
		w.stopAt.Store(int64(time.Since(w.start)))
		close(w.closed)
	})
}

// stoppedAfter is how long requests were sent (0 while the window is open).
func (w *window) stoppedAfter() time.Duration { return time.Duration(w.stopAt.Load()) }

// startGenerator sends requests in the background, by the open model when a rate
// is set and the closed one otherwise, until the window closes (or the request
// budget is spent, which then closes it). The channel is closed once every
// request it started has ended.
func startGenerator(cfg *config, p *pool, col *collector, w *window) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if cfg.open() {
			runOpen(cfg, p, col, w.start, w.closed)
		} else {
			runClosed(cfg, p, col, w.closed)
		}
		w.close()
	}()
	return done
}

// emitter writes JSON lines and keeps the first write error; later lines are dropped.
type emitter struct {
	enc *json.Encoder
	err error
}

func (e *emitter) emit(v any) {
	if e.err == nil {
		e.err = e.enc.Encode(v)
	}
}

// reportIntervals emits an interval line every cfg.Interval until the generator is
// done. In-flight requests end by their own deadline; as a safety net it stops
// waiting for them cfg.Timeout + 1s after the window closed, and then reports
// abandoned = true.
func reportIntervals(cfg *config, col *collector, w *window, genDone <-chan struct{}, em *emitter) (abandoned bool) {
	ticker := time.NewTicker(cfg.Interval)
	defer ticker.Stop()
	var hard <-chan time.Time
	closed := w.closed
	for {
		select {
		case <-ticker.C:
			iv := col.collect()
			em.emit(makeReport("interval", time.Since(w.start).Seconds(), iv, col.inflight()))
		case <-closed:
			closed = nil
			hard = time.After(cfg.Timeout + time.Second)
		case <-hard:
			return true
		case <-genDone:
			return false
		}
	}
}

// countAbandoned counts the requests still in flight as timeouts, in the last
// interval iv and in the total.
func countAbandoned(col *collector, iv *counts) {
	left := col.inflight()
	fmt.Fprintf(os.Stderr, "loadgen: %d requests still in flight after the timeout; counted as timeouts\n", left)
	iv.done += left
	iv.errs[kindTimeout] += left
	col.total.done += left
	col.total.errs[kindTimeout] += left
}

// makeSummary builds the last line from the run's totals; end is the run's length
// and load how long requests were sent.
func makeSummary(cfg *config, col *collector, end, load time.Duration) *summary {
	s := &summary{
		report:    makeReport("summary", end.Seconds(), &col.total, col.inflight()),
		Mean:      round3(col.total.hist.mean() / 1e6),
		Model:     map[bool]string{true: "open", false: "closed"}[cfg.open()],
		DurationS: round3(end.Seconds()),
		LoadS:     round3(load.Seconds()),
	}
	if end > 0 {
		s.RPS = round3(float64(col.total.done) / end.Seconds())
	}
	return s
}

func runClosed(cfg *config, p *pool, col *collector, stopCh <-chan struct{}) {
	var issued atomic.Int64
	var stopped atomic.Bool
	go func() { <-stopCh; stopped.Store(true) }()
	var wg sync.WaitGroup
	for w := 0; w < cfg.Concurrency; w++ {
		sh := col.shards[w]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stopped.Load() {
				if cfg.Requests > 0 && issued.Add(1) > cfg.Requests {
					return
				}
				t0 := time.Now()
				sh.sent.Add(1)
				status, err := p.do(t0.Add(cfg.Timeout))
				sh.record(status, err, int64(time.Since(t0)))
			}
		}()
	}
	wg.Wait()
}

func runOpen(cfg *config, p *pool, col *collector, start time.Time, stopCh <-chan struct{}) {
	var wg sync.WaitGroup
	defer wg.Wait()
	var inflight atomic.Int64
	sleeper := time.NewTimer(time.Hour)
	defer sleeper.Stop()
	nShards := int64(len(col.shards))
	for i := int64(0); cfg.Requests == 0 || i < cfg.Requests; i++ {
		offset := time.Duration(float64(i) / cfg.Rate * 1e9)
		if offset >= cfg.Duration {
			return
		}
		intended := start.Add(offset)
		if wait := time.Until(intended); wait > 0 {
			sleeper.Reset(wait)
			select {
			case <-sleeper.C:
			case <-stopCh:
				return
			}
		} else {
			select {
			case <-stopCh:
				return
			default:
			}
		}
		sh := col.shards[i%nShards]
		if inflight.Load() >= int64(cfg.MaxInflight) {
			sh.overload()
			continue
		}
		inflight.Add(1)
		sh.sent.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, err := p.do(time.Now().Add(cfg.Timeout))
			sh.record(status, err, int64(time.Since(intended)))
			inflight.Add(-1)
		}()
	}
}
