// A price service that asks an upstream for every quote, with every wait bounded.
//
// The fix, in three steps:
//  1. an http.Client with an overall Timeout and a Transport with dial, TLS-handshake
//     and response-header timeouts (never http.DefaultClient);
//  2. the outbound request carries a deadline derived from the inbound request's
//     context (NewRequestWithContext), so it ends when the caller leaves or the budget runs out;
//  3. the server bounds its side too: ReadHeaderTimeout, and a handler budget that
//     answers 504 Gateway Timeout instead of hanging.
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
)

var upstreamCalls = expvar.NewInt("upstream_calls")

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
		if err != nil {
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

func main() {
	mux := newMux(os.Getenv("UPSTREAM_URL"))
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	srv := &http.Server{
		Addr:              addr,
		Handler:           mux,
		ReadHeaderTimeout: 2 * time.Second,
		IdleTimeout:       30 * time.Second,
	}
	log.Printf("listening on %s", addr)
	log.Fatal(srv.ListenAndServe())
}
