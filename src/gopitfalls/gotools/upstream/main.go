// Command upstream is a controllable HTTP server for the lessons. It listens
// on a loopback address only.
//
// Modes:
//
//	ok    200 {"ok":true,"n":<request number>} after -delay (default 0)
//	slow  like ok, after -delay (default 1s when -delay is not given)
//	hang  read the request, never answer; hold until the client goes away or
//	      the server stops
//	big   200 with a streamed JSON body of exactly -body-size bytes,
//	      {"items":["xxx…","xxx…",…]}, chunked
//
// Flags: -addr, -mode, -delay and -body-size, the ones the engine passes
// (src/gopitfalls/services.py).
//
// Counters are published with expvar at /debug/vars (served on every
// path's mux): conns_accepted, conns_open, requests, requests_hung (currently
// held by hang mode) and requests_hung_total. The listening URL is printed to
// stderr ("upstream: listening on http://…"). SIGINT/SIGTERM stop it cleanly
// (exit 0).
//
// A few settings have no flag and are set in the config by the tests (and by
// any caller of serveUntil): a Content-Length instead of chunked encoding in
// big mode, a JSON line of the counters on stdout every Interval, the
// listening address written to a file.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"expvar"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"gopitfalls/gotools/internal/loopback"
)

type config struct {
	Addr     string
	Mode     string
	Delay    time.Duration
	BodySize int64

	// No flag sets these (see the package comment).
	ContentLength bool          // big mode: a Content-Length header instead of chunked encoding
	Report        bool          // a JSON line of the counters on stdout every Interval
	Interval      time.Duration // of the Report lines; must be > 0 with Report
	AddrFile      string        // write the listening host:port to this file
}

type counters struct {
	connsAccepted     atomic.Int64
	connsOpen         atomic.Int64
	requests          atomic.Int64
	requestsHung      atomic.Int64
	requestsHungTotal atomic.Int64
}

type server struct {
	cfg      config
	c        counters
	stopping chan struct{} // closed when shutting down: releases hung requests
	stopOnce sync.Once
	http     *http.Server
	ln       net.Listener
}

// The expvar names are global; they read whichever server is current.
var (
	current     atomic.Pointer[server]
	publishOnce sync.Once
)

func publish() {
	publishOnce.Do(func() {
		get := func(f func(*counters) *atomic.Int64) expvar.Func {
			return func() any {
				if s := current.Load(); s != nil {
					return f(&s.c).Load()
				}
				return int64(0)
			}
		}
		expvar.Publish("conns_accepted", get(func(c *counters) *atomic.Int64 { return &c.connsAccepted }))
		expvar.Publish("conns_open", get(func(c *counters) *atomic.Int64 { return &c.connsOpen }))
		expvar.Publish("requests", get(func(c *counters) *atomic.Int64 { return &c.requests }))
		expvar.Publish("requests_hung", get(func(c *counters) *atomic.Int64 { return &c.requestsHung }))
		expvar.Publish("requests_hung_total", get(func(c *counters) *atomic.Int64 { return &c.requestsHungTotal }))
	})
}

func main() {
	os.Exit(mainExit(os.Args[1:], os.Stdout, os.Stderr))
}

func mainExit(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "upstream:", err)
		}
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serveUntil(ctx, cfg, stdout, stderr)
}

// serveUntil runs the server that cfg describes until ctx is done, then shuts it
// down and returns the exit status: 0, or 1 when it cannot start or serve.
func serveUntil(ctx context.Context, cfg config, stdout, stderr io.Writer) int {
	s, err := newServer(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "upstream:", err)
		return 1
	}
	url := "http://" + s.ln.Addr().String()
	fmt.Fprintf(stderr, "upstream: listening on %s (mode %s)\n", url, cfg.Mode)
	if cfg.AddrFile != "" {
		if err := os.WriteFile(cfg.AddrFile, []byte(s.ln.Addr().String()+"\n"), 0o644); err != nil {
			fmt.Fprintln(stderr, "upstream:", err)
			s.close()
			return 1
		}
	}
	if cfg.Report {
		reportCtx, stopReport := context.WithCancel(ctx)
		reported := make(chan struct{})
		go func() { defer close(reported); s.report(reportCtx, stdout) }()
		defer func() { stopReport(); <-reported }() // no line after serveUntil returns
	}
	errc := make(chan error, 1)
	go func() { errc <- s.serve() }()
	select {
	case err := <-errc:
		fmt.Fprintln(stderr, "upstream:", err)
		return 1
	case <-ctx.Done():
	}
	s.shutdown(2 * time.Second)
	return 0
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("upstream", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	var size string
	delaySet := false
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:0", "loopback address to listen on")
	fs.StringVar(&cfg.Mode, "mode", "ok", "ok | slow | hang | big")
	fs.DurationVar(&cfg.Delay, "delay", 0, "delay before answering (ok, slow; slow defaults to 1s)")
	fs.StringVar(&size, "body-size", "1MiB", "big mode: body size in bytes; suffixes KB MB GB (1000) or KiB MiB GiB (1024)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "delay" {
			delaySet = true
		}
	})
	switch cfg.Mode {
	case "ok", "hang", "big":
	case "slow":
		if !delaySet {
			cfg.Delay = time.Second
		}
	default:
		return cfg, fmt.Errorf("-mode %q: want ok, slow, hang or big", cfg.Mode)
	}
	if cfg.Delay < 0 {
		return cfg, fmt.Errorf("-delay must be >= 0")
	}
	n, err := parseSize(size)
	if err != nil {
		return cfg, fmt.Errorf("-body-size: %v", err)
	}
	cfg.BodySize = n
	if err := loopback.Check(cfg.Addr); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// parseSize parses "2GiB", "512MiB", "10KB", "1048576" or "100B".
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
		{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1},
	}
	mult := int64(1)
	for _, u := range units {
		if len(t) > len(u.suffix) && strings.EqualFold(t[len(t)-len(u.suffix):], u.suffix) {
			t, mult = strings.TrimSpace(t[:len(t)-len(u.suffix)]), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 || math.IsNaN(f) {
		return 0, fmt.Errorf("%q is not a size (e.g. 512MiB, 2GiB, 1000)", s)
	}
	v := f * float64(mult)
	if v > 1<<50 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return int64(v), nil
}

func newServer(cfg config) (*server, error) {
	if err := loopback.Check(cfg.Addr); err != nil {
		return nil, err
	}
	if cfg.Report && cfg.Interval <= 0 {
		return nil, fmt.Errorf("report interval %v: must be > 0", cfg.Interval)
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, err
	}
	s := &server{cfg: cfg, stopping: make(chan struct{}), ln: ln}
	publish()
	current.Store(s)
	mux := http.NewServeMux()
	mux.Handle("/debug/vars", expvar.Handler())
	mux.HandleFunc("/", s.handle)
	s.http = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 30 * time.Second,
		ConnState: func(_ net.Conn, st http.ConnState) {
			switch st {
			case http.StateNew:
				s.c.connsAccepted.Add(1)
				s.c.connsOpen.Add(1)
			case http.StateClosed, http.StateHijacked:
				s.c.connsOpen.Add(-1)
			}
		},
	}
	return s, nil
}

func (s *server) serve() error {
	err := s.http.Serve(s.ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func (s *server) releaseHung() { s.stopOnce.Do(func() { close(s.stopping) }) }

// shutdown releases hung requests, lets the others finish for up to grace,
// then closes whatever is left.
func (s *server) shutdown(grace time.Duration) {
	s.releaseHung()
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := s.http.Shutdown(ctx); err != nil {
		s.http.Close()
	}
}

func (s *server) close() {
	s.releaseHung()
	s.http.Close()
	s.ln.Close()
}

func (s *server) report(ctx context.Context, out io.Writer) {
	start := time.Now()
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	enc := json.NewEncoder(out)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			line := struct {
				T             float64 `json:"t"`
				ConnsAccepted int64   `json:"conns_accepted"`
				ConnsOpen     int64   `json:"conns_open"`
				Requests      int64   `json:"requests"`
				RequestsHung  int64   `json:"requests_hung"`
			}{
				float64(time.Since(start).Milliseconds()) / 1000,
				s.c.connsAccepted.Load(), s.c.connsOpen.Load(), s.c.requests.Load(), s.c.requestsHung.Load(),
			}
			if enc.Encode(line) != nil {
				return
			}
		}
	}
}

func (s *server) handle(w http.ResponseWriter, r *http.Request) {
	n := s.c.requests.Add(1)
	switch s.cfg.Mode {
	case "hang":
		s.c.requestsHung.Add(1)
		s.c.requestsHungTotal.Add(1)
		defer s.c.requestsHung.Add(-1)
		// Read the whole request, so that net/http notices when the client
		// closes the connection (r.Context is then cancelled).
		io.Copy(io.Discard, io.LimitReader(r.Body, 1<<30))
		select {
		case <-r.Context().Done(): // the client closed the connection
		case <-s.stopping:
		}
		// Returning without writing would send an empty 200; drop the
		// connection instead so that no answer is ever given.
		panic(http.ErrAbortHandler)
	case "big":
		writeBig(w, s.cfg.BodySize, s.cfg.ContentLength)
	default: // ok, slow
		if s.cfg.Delay > 0 {
			t := time.NewTimer(s.cfg.Delay)
			defer t.Stop()
			select {
			case <-t.C:
			case <-r.Context().Done():
				return
			case <-s.stopping:
			}
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, "{\"ok\":true,\"n\":%d}\n", n)
	}
}

const unitSize = 1024 // each item takes 1024 bytes: `"x…x"` first, `,"x…x"` after

var block = func() []byte {
	unit := make([]byte, unitSize)
	unit[0], unit[1], unit[unitSize-1] = ',', '"', '"'
	for i := 2; i < unitSize-1; i++ {
		unit[i] = 'x'
	}
	b := make([]byte, 0, 64*unitSize)
	for i := 0; i < 64; i++ {
		b = append(b, unit...)
	}
	return b
}()

// writeBig streams exactly size bytes of valid JSON (sizes below 12 bytes
// cannot hold the envelope and are sent as spaces).
func writeBig(w http.ResponseWriter, size int64, contentLength bool) {
	w.Header().Set("Content-Type", "application/json")
	if contentLength {
		w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	}
	w.WriteHeader(http.StatusOK)
	if err := streamBig(w, size); err != nil {
		panic(http.ErrAbortHandler) // the client went away
	}
}

func streamBig(w io.Writer, size int64) error {
	const prefix, suffix = `{"items":[`, `]}`
	if size < int64(len(prefix)+len(suffix)) {
		_, err := w.Write([]byte(strings.Repeat(" ", int(size))))
		return err
	}
	if _, err := io.WriteString(w, prefix); err != nil {
		return err
	}
	budget := size - int64(len(prefix)+len(suffix))
	first := true
	// Full items: the first without its leading comma (1023 x's), the rest from block.
	if budget >= unitSize {
		// `"` + 1021 x's from block, then `x"`: 1024 bytes without a comma.
		if _, err := w.Write(block[1 : unitSize-1]); err != nil {
			return err
		}
		if _, err := io.WriteString(w, `x"`); err != nil {
			return err
		}
		budget -= unitSize
		first = false
	}
	for budget >= unitSize {
		n := min(budget/unitSize, int64(len(block)/unitSize)) * unitSize
		if _, err := w.Write(block[:n]); err != nil {
			return err
		}
		budget -= n
	}
	// The remainder (< unitSize): one shorter item, else spaces.
	var tail []byte
	overhead := int64(3) // ,""
	if first {
		overhead = 2
	}
	if budget >= overhead {
		tail = make([]byte, 0, budget)
		if !first {
			tail = append(tail, ',')
		}
		tail = append(tail, '"')
		for i := int64(0); i < budget-overhead; i++ {
			tail = append(tail, 'x')
		}
		tail = append(tail, '"')
	} else {
		tail = []byte(strings.Repeat(" ", int(budget)))
	}
	tail = append(tail, suffix...)
	_, err := w.Write(tail)
	return err
}
