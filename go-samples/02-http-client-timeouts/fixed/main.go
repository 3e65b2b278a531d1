// A price service that asks an upstream for every quote, with every wait bounded.
//
// The fix, in three steps:
//  1. an http.Client with an overall Timeout and a Transport with dial, TLS-handshake
//     and response-header timeouts (never http.DefaultClient);
//  2. a handler budget: the outbound request carries a deadline derived from the
//     inbound request's context (NewRequestWithContext + client.Do), so it ends when
//     the caller leaves or the budget runs out;
//  3. the budget becomes a status: 504 Gateway Timeout when it runs out, 502 when the
//     upstream fails.
//
// The server side (every http.Server timeout, graceful shutdown) is internal/serve's,
// as in every fixed sample; lesson 20 is about it.
package main

import (
	"context"
	"errors"
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
	upstreamCalls = expvar.NewInt("upstream_calls")
	callersGone   = expvar.NewInt("callers_gone_while_handling") // see countCallersGone
)

// budget is how long one quote may take end to end, upstream call included.
const budget = time.Second

func newUpstreamClient() *http.Client {
	return &http.Client{
		Timeout: budget,
		Transport: &http.Transport{
			DialContext:           (&net.Dialer{Timeout: 200 * time.Millisecond}).DialContext,
			TLSHandshakeTimeout:   200 * time.Millisecond,
			ResponseHeaderTimeout: budget,
			MaxIdleConnsPerHost:   64,
			IdleConnTimeout:       30 * time.Second,
		},
	}
}

func newMux(upstream string) *http.ServeMux {
	client := newUpstreamClient()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /quote", func(w http.ResponseWriter, r *http.Request) {
		upstreamCalls.Add(1)
		ctx, cancel := context.WithTimeout(r.Context(), budget)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, upstream+"/price", nil)
		if err != nil { // a malformed UPSTREAM_URL
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		resp, err := client.Do(req)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) || os.IsTimeout(err) {
				http.Error(w, "upstream timed out", http.StatusGatewayTimeout)
				return
			}
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
	// Server timeouts and a graceful shutdown, as lessons 20 and 21 teach.
	if err := serve.Run(serve.Addr(), countCallersGone(mux)); err != nil {
		log.Fatal(err)
	}
}
