// Command fixed is the lesson 21 service with a graceful shutdown. SIGTERM (or
// Ctrl-C) cancels a context from signal.NotifyContext instead of killing the
// process; /readyz turns 503 at once so the load balancer stops routing here;
// after DRAIN_DELAY (the time the balancer needs to notice) Server.Shutdown stops
// accepting, closes idle connections and waits, up to SHUTDOWN_TIMEOUT, for the
// requests in flight to finish. Then the process exits 0.
package main

import (
	"context"
	"expvar"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"
)

var (
	requestsTotal    = expvar.NewInt("requests_total")
	requestsInflight = expvar.NewInt("requests_inflight")
)

type app struct {
	work     time.Duration // how long one request works (WORK_TIME)
	draining atomic.Bool   // set on SIGTERM: not ready for new traffic
}

// doWork stands for a request that takes a while: a database write, a render.
func (a *app) doWork(w http.ResponseWriter, r *http.Request) {
	requestsTotal.Add(1)
	requestsInflight.Add(1)
	defer requestsInflight.Add(-1)
	select {
	case <-time.After(a.work):
		fmt.Fprintln(w, "done")
	case <-r.Context().Done(): // the client gave up
	}
}

func (a *app) readyz(w http.ResponseWriter, r *http.Request) {
	if a.draining.Load() {
		http.Error(w, "draining", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}

// beginDrain is step 2: readiness fails first, and the server keeps serving for d,
// the time a load balancer needs to see the 503 and stop sending new requests here.
func (a *app) beginDrain(d time.Duration) {
	a.draining.Store(true)
	log.Printf("shutdown: started, readyz answers 503, draining for %v (%d in flight)", d, requestsInflight.Value())
	time.Sleep(d)
}

func (a *app) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/work", a.doWork)
	mux.HandleFunc("GET /readyz", a.readyz)
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "alive") })
	return mux
}

func envDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil && d >= 0 {
		return d
	}
	return def
}

// shutdown is step 3: stop accepting, close idle connections and wait for the
// requests in flight, but no longer than timeout.
func shutdown(srv *http.Server, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return srv.Shutdown(ctx)
}

func main() {
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	a := &app{work: envDuration("WORK_TIME", 300*time.Millisecond)}
	drain := envDuration("DRAIN_DELAY", 500*time.Millisecond)
	timeout := envDuration("SHUTDOWN_TIMEOUT", 10*time.Second)

	// Step 1: SIGTERM cancels ctx instead of ending the process.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("listening on %s", ln.Addr())
	srv := &http.Server{Handler: a.handler(), ReadHeaderTimeout: 5 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	select {
	case err := <-serveErr:
		log.Fatal(err)
	case <-ctx.Done():
	}
	stop() // from here on, a second SIGTERM ends the process the default way

	a.beginDrain(drain)
	if err := shutdown(srv, timeout); err != nil {
		log.Printf("shutdown: gave up after %v: %v", timeout, err)
		os.Exit(1)
	}
	log.Printf("shutdown: complete, %d requests served", requestsTotal.Value())
}
