// Command broken is the lesson 20 service, started the way most tutorials start
// one: an http.Server with no timeouts. A client that sends its request headers a
// byte at a time (the "slowloris" attack, or just a bad mobile link) keeps its
// connection, a goroutine and two buffers for as long as it likes; a few thousand
// such clients use up file descriptors and memory while sending almost nothing.
// The same holds for a body that trickles in, a client that stops reading the
// response, and idle keep-alive connections.
package main

import (
	"expvar"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
)

var (
	connsOpen     = expvar.NewInt("conns_open")  // accepted and not yet closed
	connsTotal    = expvar.NewInt("conns_total") // accepted since start
	requestsTotal = expvar.NewInt("requests_total")
)

// trackConns keeps conns_open up to date from the server's connection states.
func trackConns(_ net.Conn, s http.ConnState) {
	switch s {
	case http.StateNew:
		connsOpen.Add(1)
		connsTotal.Add(1)
	case http.StateClosed, http.StateHijacked:
		connsOpen.Add(-1)
	}
}

func newHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /api/hello", func(w http.ResponseWriter, r *http.Request) {
		requestsTotal.Add(1)
		fmt.Fprintln(w, "hello")
	})
	// POST /api/upload reads the body (up to 8 MiB) and reports its size.
	mux.HandleFunc("POST /api/upload", func(w http.ResponseWriter, r *http.Request) {
		requestsTotal.Add(1)
		n, err := io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, 8<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "received %d bytes\n", n)
	})
	return mux
}

func newServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:   h,
		ConnState: trackConns,
	}
}

func main() {
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("listening on %s", ln.Addr())
	log.Fatal(newServer(newHandler()).Serve(ln))
}
