// Command fixed is the checkout API of lesson 16 after its three-step fix:
// levels through a slog.LevelVar (the step-by-step narration is DEBUG, off
// unless someone turns it on), a sampling handler that keeps every warning and
// error and a fixed share of INFO, chosen by trace id, and one structured line
// per request with everything in attributes.
package main

import (
	"crypto/sha256"
	"encoding/binary"
	"expvar"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"gopitfalls/samples/internal/serve"
	"gopitfalls/samples/internal/traceparent"
)

var (
	requests   = expvar.NewInt("requests")
	warnings   = expvar.NewInt("warn_requests")  // answered 4xx
	failures   = expvar.NewInt("error_requests") // answered 5xx
	logBytes   = expvar.NewInt("log_bytes")
	logWriteMs = expvar.NewFloat("log_write_ms") // time handlers spent inside log writes
)

// meteredWriter counts what the logger writes and how long each write blocks.
type meteredWriter struct{ w io.Writer }

func (m meteredWriter) Write(p []byte) (int, error) {
	start := time.Now()
	n, err := m.w.Write(p)
	logWriteMs.Add(float64(time.Since(start).Microseconds()) / 1000)
	logBytes.Add(int64(n))
	return n, err
}

// logOutput is the log pipeline: a TCP connection to $LOG_ADDR, or stderr. Its
// send buffer is bounded like the 64 KiB pipe to a container runtime, so a slow
// reader is felt as it would be in production (see CONTRIBUTING: log sink).
func logOutput() io.Writer {
	addr := os.Getenv("LOG_ADDR")
	if addr == "" {
		return os.Stderr
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		log.Fatalf("log pipeline %s: %v", addr, err)
	}
	c.(*net.TCPConn).SetWriteBuffer(32 << 10)
	return c
}

// outcome decides a checkout's fate from its trace id, so the same trace always
// ends the same way: 1 in 100 is out of stock (409), 1 in 100 has its payment
// declined by the provider (502).
func outcome(traceID string) int {
	sum := sha256.Sum256([]byte(traceID))
	switch binary.BigEndian.Uint16(sum[:2]) % 100 {
	case 0:
		return http.StatusConflict
	case 1:
		return http.StatusBadGateway
	}
	return http.StatusOK
}

var orders atomic.Int64

type app struct {
	log   *slog.Logger
	level *slog.LevelVar
}

func (a *app) checkout(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	requests.Add(1)
	trace, ok := traceparent.TraceID(r.Header.Get("traceparent"))
	if !ok {
		trace = traceparent.NewTraceID()
	}
	w.Header().Set("X-Trace-Id", trace)
	lg := a.log.With(TraceKey, trace)
	ctx := r.Context()
	items := 1 + len(trace)%4
	total := float64(items) * 12.5
	// Step 1: the narration is DEBUG. At INFO these calls cost an Enabled check.
	lg.DebugContext(ctx, "cart priced", "items", items, "total_eur", total)
	status, level, msg := outcome(trace), slog.LevelInfo, "checkout"
	attrs := []any{"method", r.Method, "path", r.URL.Path, "items", items, "total_eur", total}
	switch status {
	case http.StatusConflict:
		warnings.Add(1)
		level, msg = slog.LevelWarn, "checkout rejected: item out of stock"
	case http.StatusBadGateway:
		failures.Add(1)
		level, msg = slog.LevelError, "checkout failed: payment provider declined"
	default:
		attrs = append(attrs, "order", orders.Add(1))
	}
	// Step 3: one line per request, written once its outcome is known, so its
	// level says how it ended and the sampler can keep every one that went wrong.
	lg.Log(ctx, level, msg, append(attrs, "status", status,
		"duration_ms", float64(time.Since(start).Microseconds())/1000)...)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, "{\"status\":%d,\"trace_id\":%q}\n", status, trace)
}

// logLevel shows (GET) or sets (PUT ?level=debug) the level at run time.
func (a *app) logLevel(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPut {
		var l slog.Level
		if err := l.UnmarshalText([]byte(r.URL.Query().Get("level"))); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		a.level.Set(l)
	}
	fmt.Fprintln(w, a.level.Level())
}

func newApp(out io.Writer, level slog.Level, share float64) *app {
	lv := new(slog.LevelVar)
	lv.Set(level)
	// Step 2: the sampler sits in front of the JSON handler.
	h := NewSampler(slog.NewJSONHandler(meteredWriter{out}, &slog.HandlerOptions{Level: lv}), share)
	return &app{log: slog.New(h), level: lv}
}

func (a *app) mux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/checkout", a.checkout)
	mux.HandleFunc("/debug/log-level", a.logLevel)
	mux.Handle("/debug/vars", expvar.Handler())
	return mux
}

func main() {
	var level slog.Level // INFO unless $LOG_LEVEL says otherwise
	if err := level.UnmarshalText([]byte(os.Getenv("LOG_LEVEL"))); os.Getenv("LOG_LEVEL") != "" && err != nil {
		log.Fatalf("LOG_LEVEL: %v", err)
	}
	share := 0.05 // of the INFO traces kept; $LOG_SAMPLE
	if s := os.Getenv("LOG_SAMPLE"); s != "" {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || v < 0 || v > 1 {
			log.Fatalf("LOG_SAMPLE %q: want a share between 0 and 1", s)
		}
		share = v
	}
	a := newApp(logOutput(), level, share)
	if err := serve.Run(serve.Addr(), a.mux()); err != nil {
		log.Fatal(err)
	}
}
