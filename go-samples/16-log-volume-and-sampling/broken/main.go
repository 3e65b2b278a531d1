// Command broken is a checkout API that narrates every request: six unstructured
// lines, all at INFO, written synchronously to the log pipeline ($LOG_ADDR).
// While the pipeline keeps up nobody notices; once it slows down, every Write
// blocks, the logger's lock queues every handler behind it, and the service
// runs at the speed of its logs.
package main

import (
	"crypto/sha256"
	"encoding/binary"
	"expvar"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

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

type app struct{ log *log.Logger }

func (a *app) checkout(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	requests.Add(1)
	trace, ok := traceparent.TraceID(r.Header.Get("traceparent"))
	if !ok {
		trace = traceparent.NewTraceID()
	}
	w.Header().Set("X-Trace-Id", trace)
	a.log.Printf("checkout: received %s %s from %s trace=%s", r.Method, r.URL.Path, r.RemoteAddr, trace)
	items := 1 + len(trace)%4
	a.log.Printf("checkout: loaded cart with %d items for trace %s", items, trace)
	total := float64(items) * 12.5
	a.log.Printf("checkout: priced cart at %.2f EUR (trace %s)", total, trace)
	status := outcome(trace)
	switch status {
	case http.StatusConflict:
		warnings.Add(1)
		a.log.Printf("checkout: item out of stock, rejecting trace %s", trace)
	case http.StatusBadGateway:
		failures.Add(1)
		a.log.Printf("checkout: payment provider declined trace %s", trace)
	default:
		a.log.Printf("checkout: payment authorized by provider for trace %s", trace)
		a.log.Printf("checkout: stored order %d for trace %s", orders.Add(1), trace)
	}
	a.log.Printf("checkout: finished trace=%s status=%d in %s", trace, status, time.Since(start))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, "{\"status\":%d,\"trace_id\":%q}\n", status, trace)
}

func newMux(out io.Writer) *http.ServeMux {
	a := &app{log: log.New(meteredWriter{out}, "", log.LstdFlags|log.Lmicroseconds)}
	mux := http.NewServeMux()
	mux.HandleFunc("/checkout", a.checkout)
	mux.Handle("/debug/vars", expvar.Handler())
	return mux
}

func main() {
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	log.Printf("listening on %s", addr)
	log.Fatal(http.ListenAndServe(addr, newMux(logOutput())))
}
