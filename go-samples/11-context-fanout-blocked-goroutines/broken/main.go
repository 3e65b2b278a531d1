// Command broken is the lesson 11 price service. Each request asks every replica
// of the pricing backend at once (a "hedged" fan-out) and answers with the first
// reply. The replies travel on an unbuffered channel that only the first one is
// ever read from: the N-1 slower replica goroutines block on their send forever,
// so every request leaks N-1 goroutines, and the losers keep working after the
// winner answered because nothing tells them to stop.
//
// The replicas are simulated in-process (a goroutine that waits a random latency),
// which keeps the lab self-contained; the leak is the same with real HTTP calls.
package main

import (
	"encoding/json"
	"expvar"
	"fmt"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strconv"
	"time"
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

// ask is one replica call: a random latency, then a price.
func (p *pricing) ask(replica int, sku string) quote {
	replicaCalls.Add(1)
	time.Sleep(rand.N(p.maxLatency) + time.Millisecond)
	return quote{SKU: sku, Cents: int64(1000 + len(sku)), Replica: replica}
}

// first fans out to every replica and returns the first quote.
func (p *pricing) first(sku string) quote {
	// Every replica sends its reply on ch.
	ch := make(chan quote)
	for i := range p.replicas {
		replicaGoroutines.Add(1)
		go func() {
			defer replicaGoroutines.Add(-1)
			ch <- p.ask(i, sku) // blocks forever for every replica but the fastest
		}()
	}
	return <-ch
}

func (p *pricing) handleQuote(w http.ResponseWriter, r *http.Request) {
	requestsTotal.Add(1)
	q := p.first(r.URL.Query().Get("sku"))
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
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	p := &pricing{
		replicas:   envInt("REPLICAS", 3),
		maxLatency: time.Duration(envInt("MAX_LATENCY_MS", 20)) * time.Millisecond,
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("listening on %s (replicas=%d, max latency %v)", ln.Addr(), p.replicas, p.maxLatency)
	srv := &http.Server{Handler: newHandler(p), ReadHeaderTimeout: 5 * time.Second}
	log.Fatal(srv.Serve(ln))
}
