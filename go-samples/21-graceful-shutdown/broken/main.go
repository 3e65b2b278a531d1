// Command broken is the lesson 21 service as it is usually first deployed: it
// serves until the process ends. A rolling deploy, a scale-down or a node drain
// sends SIGTERM, Go's default action for it ends the process at once, and every
// request in flight fails (its connection closes without a response). The
// readiness endpoint says "ready" until the very end, so the load balancer keeps
// sending new requests into the dying process.
package main

import (
	"expvar"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"time"
)

var (
	requestsTotal    = expvar.NewInt("requests_total")
	requestsInflight = expvar.NewInt("requests_inflight")
)

type app struct {
	work time.Duration // how long one request works (WORK_TIME)
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
	fmt.Fprintln(w, "ready")
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

func main() {
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	a := &app{work: envDuration("WORK_TIME", 300*time.Millisecond)}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("listening on %s", ln.Addr())
	srv := &http.Server{Handler: a.handler(), ReadHeaderTimeout: 5 * time.Second}
	log.Fatal(srv.Serve(ln))
}
