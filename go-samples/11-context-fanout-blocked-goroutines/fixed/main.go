// Command fixed is the lesson 11 price service after the fix. The request's
// context goes explicitly to every replica call; first cancels the losers as soon
// as it has a winner (or the client left); every send selects on ctx.Done(), and
// the channel has room for all N replies, so no sender can block forever.
package main

import (
	"context"
	"encoding/json"
	"expvar"
	"fmt"
	"log"
	"math/rand/v2"
	"net/http"
	"net/http/pprof"
	"os"
	"strconv"
	"time"

	"gopitfalls/samples/internal/serve"
)

var (
	requestsTotal     = expvar.NewInt("requests_total")
	replicaCalls      = expvar.NewInt("replica_calls_total")
	replicaGoroutines = expvar.NewInt("replica_goroutines") // started and not yet returned
)

type quote struct {
	SKU     string `json:"sku"`
	Cents   int64  `json:"cents"`
	Replica int    `json:"replica"`
}

type pricing struct {
	replicas   int
	maxLatency time.Duration
}

// ask is one replica call: a random latency, then a price, unless ctx ends first.
func (p *pricing) ask(ctx context.Context, replica int, sku string) (quote, error) {
	replicaCalls.Add(1)
	t := time.NewTimer(rand.N(p.maxLatency) + time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
		return quote{SKU: sku, Cents: int64(1000 + len(sku)), Replica: replica}, nil
	case <-ctx.Done():
		return quote{}, ctx.Err()
	}
}

// first fans out to every replica and returns the first quote. Returning cancels
// ctx, which stops the losers; room for every reply lets any late sender finish.
func (p *pricing) first(ctx context.Context, sku string) (quote, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Every replica sends its reply on ch.
	ch := make(chan quote, p.replicas)
	for i := range p.replicas {
		replicaGoroutines.Add(1)
		go func() {
			defer replicaGoroutines.Add(-1)
			q, err := p.ask(ctx, i, sku)
			if err != nil {
				return
			}
			select {
			case ch <- q:
			case <-ctx.Done():
			}
		}()
	}
	select {
	case q := <-ch:
		return q, nil
	case <-ctx.Done():
		return quote{}, ctx.Err()
	}
}

func (p *pricing) handleQuote(w http.ResponseWriter, r *http.Request) {
	requestsTotal.Add(1)
	q, err := p.first(r.Context(), r.URL.Query().Get("sku"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable) // the client has gone
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(q)
}

func newHandler(p *pricing) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/quote", p.handleQuote)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	// Profiles on the service mux so the lab can fetch the goroutineleak profile.
	// Acceptable only because the lab binds to loopback; see lesson 08.
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	return mux
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

func main() {
	p := &pricing{
		replicas:   envInt("REPLICAS", 3),
		maxLatency: time.Duration(envInt("MAX_LATENCY_MS", 20)) * time.Millisecond,
	}
	log.Printf("replicas=%d, max latency %v", p.replicas, p.maxLatency)
	// Server timeouts and a graceful shutdown, as lessons 20 and 21 teach.
	if err := serve.Run(serve.Addr(), newHandler(p)); err != nil {
		log.Fatal(err)
	}
}
