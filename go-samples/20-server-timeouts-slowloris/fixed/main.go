// Command fixed is the lesson 20 service with the server's timeouts and limits
// set: a request must deliver its headers within ReadHeaderTimeout and all of
// itself within ReadTimeout, the response must be written within WriteTimeout,
// an idle keep-alive connection is closed after IdleTimeout, and headers are
// capped by MaxHeaderBytes. A slow client now costs a connection for seconds, not
// forever. (The values are short so the lab sees them act; see LESSON.md.)
package main

import (
	"expvar"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"time"

	"gopitfalls/samples/internal/serve"
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
		Handler:           h,
		ConnState:         trackConns,
		ReadHeaderTimeout: 2 * time.Second,  // 1: headers must arrive quickly (slowloris)
		ReadTimeout:       10 * time.Second, // 2: the whole request, body included
		WriteTimeout:      15 * time.Second, // 2: the handler plus writing the response
		IdleTimeout:       30 * time.Second, // 3: keep-alive connections that send nothing
		MaxHeaderBytes:    16 << 10,         // 3: header bytes, answered with 431 beyond
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
	// A graceful shutdown on SIGTERM, as lesson 21 teaches.
	if err := serve.ServeServer(ln, newServer(newHandler())); err != nil {
		log.Fatal(err)
	}
}
