// A price service that asks an upstream for every quote.
//
// The pitfall: http.DefaultClient has no timeout at all, and the outbound request
// does not carry the inbound request's context. When the upstream accepts the
// connection but never answers, every inbound request parks one handler goroutine
// (plus the transport's two connection goroutines and two file descriptors) forever,
// long after the caller has given up.
package main

import (
	"context"
	"expvar"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
)

var (
	upstreamCalls = expvar.NewInt("upstream_calls")
	callersGone   = expvar.NewInt("callers_gone_while_handling") // see countCallersGone
)

func newMux(upstream string) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /quote", func(w http.ResponseWriter, r *http.Request) {
		upstreamCalls.Add(1)
		resp, err := http.DefaultClient.Get(upstream + "/price")
		if err != nil {
			http.Error(w, "upstream: "+err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err != nil {
			http.Error(w, "upstream: "+err.Error(), http.StatusBadGateway)
			return
		}
		fmt.Fprintf(w, "quote: %s\n", body)
	})
	return mux
}

// countCallersGone counts the requests whose caller left while the handler still ran:
// net/http reads the inbound connection in the background while the handler runs and
// cancels r.Context() when the caller closes it. (The lesson's instrument, not the fix.)
func countCallersGone(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stop := context.AfterFunc(r.Context(), func() { callersGone.Add(1) })
		defer stop() // r.Context() also ends when the handler returns: that is not counted
		next.ServeHTTP(w, r)
	})
}

func main() {
	mux := newMux(os.Getenv("UPSTREAM_URL"))
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	log.Printf("listening on %s", addr)
	// No server timeouts either: a client that never finishes its headers holds a
	// connection forever (lesson 20 shows that one).
	log.Fatal(http.ListenAndServe(addr, countCallersGone(mux)))
}
