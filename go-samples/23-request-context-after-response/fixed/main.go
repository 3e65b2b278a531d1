// Command fixed is the order service of lesson 23 with its background work done
// right. POST /orders still answers 202 Accepted at once, and the webhook to the
// fulfilment service (UPSTREAM_URL) still goes out after the answer, but:
//
//  1. the job's context is context.WithoutCancel(r.Context()): it keeps the
//     request's values (the trace id) and drops its cancellation; the worker gives
//     each webhook a deadline of its own (WEBHOOK_TIMEOUT);
//  2. the handler copies what the job needs (the order, by value) before it
//     returns: the job holds no *http.Request, no ResponseWriter and nothing the
//     handler still touches;
//  3. the job goes to a fixed pool of WORKERS goroutines through a queue of QUEUE
//     jobs. When the queue is full the order is refused with 503 and Retry-After
//     (nothing accepted, nothing lost; the caller retries), and on SIGTERM the
//     server stops taking orders, then the workers finish every queued job
//     before the process exits.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"expvar"
	"fmt"
	"log"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"gopitfalls/samples/internal/serve"
	"gopitfalls/samples/internal/traceparent"
)

// The work the service promised (accepted) and what became of it.
var (
	accepted  = expvar.NewInt("orders_accepted")
	rejected  = expvar.NewInt("orders_rejected") // 503: the queue was full
	delivered = expvar.NewInt("webhooks_delivered")
	cancelled = expvar.NewInt("webhooks_cancelled") // failed with context.Canceled
	failed    = expvar.NewInt("webhooks_failed")    // failed otherwise (timeout, refused, 5xx)
	withTrace = expvar.NewInt("webhooks_with_trace_id")
	queued    = expvar.NewInt("jobs_queued") // waiting for a worker now
)

type order struct {
	ID     int64  `json:"id"`
	Item   string `json:"item"`
	Qty    int    `json:"qty"`
	Status string `json:"status"`
}

// traceKey is the context key of the request's trace id (an unexported type, so
// that no other package can collide with it).
type traceKey struct{}

// withTraceID stores the caller's trace id (from its traceparent header, or a new
// one) in the request's context, where every later step of the request finds it.
func withTraceID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := traceparent.TraceID(r.Header.Get("Traceparent"))
		if !ok {
			id = traceparent.NewTraceID()
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), traceKey{}, id)))
	})
}

func traceID(ctx context.Context) string {
	id, _ := ctx.Value(traceKey{}).(string)
	return id
}

// A job is everything the webhook needs, taken from the request before the
// handler returns.
type job struct {
	ctx   context.Context // the request's values, without its cancellation (step 1)
	order order           // a copy: the handler and the worker share no memory (step 2)
}

type app struct {
	webhookURL string
	client     *http.Client
	timeout    time.Duration // each webhook's own deadline
	jobs       chan job      // the bounded queue (step 3)
	workers    sync.WaitGroup
	nextID     atomic.Int64
}

func (a *app) createOrder(w http.ResponseWriter, r *http.Request) {
	var o order
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10)).Decode(&o); err != nil || o.Item == "" || o.Qty < 1 {
		http.Error(w, "want a JSON order: {\"item\": \"...\", \"qty\": 1}", http.StatusBadRequest)
		return
	}
	o.ID = a.nextID.Add(1)
	o.Status = "accepted" // the order is complete before the job copies it
	if !a.enqueue(job{ctx: context.WithoutCancel(r.Context()), order: o}) {
		rejected.Add(1)
		w.Header().Set("Retry-After", "1")
		http.Error(w, "too many orders in flight, retry in a second", http.StatusServiceUnavailable)
		return
	}
	accepted.Add(1)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	json.NewEncoder(w).Encode(o)
}

// notify sends the order to the fulfilment service under the job's own deadline;
// the trace id comes from the request's values, which WithoutCancel kept.
func (a *app) notify(j job) {
	ctx, cancel := context.WithTimeout(j.ctx, a.timeout)
	defer cancel()
	body, _ := json.Marshal(j.order)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.webhookURL, bytes.NewReader(body))
	if err != nil {
		log.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Traceparent", fmt.Sprintf("00-%s-%016x-01", traceID(ctx), rand.Uint64()))
	resp, err := a.client.Do(req)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("fulfilment answered %s", resp.Status)
		}
	}
	if err != nil {
		if errors.Is(err, context.Canceled) {
			cancelled.Add(1)
		} else {
			failed.Add(1)
		}
		log.Printf("order %d: webhook failed: %v", j.order.ID, err)
		return
	}
	delivered.Add(1)
	if traceID(ctx) != "" {
		withTrace.Add(1)
	}
}

// enqueue hands j to the workers, or reports false at once when the queue is
// full: the handler never waits for room, and never starts a goroutine of its own.
func (a *app) enqueue(j job) bool {
	select {
	case a.jobs <- j:
		queued.Add(1)
		return true
	default:
		return false
	}
}

// startWorkers starts the pool: n goroutines that take jobs until the queue is
// closed and empty.
func (a *app) startWorkers(n int) {
	for range n {
		a.workers.Go(func() {
			for j := range a.jobs {
				queued.Add(-1)
				a.notify(j)
			}
		})
	}
}

// drain runs after the server has stopped taking requests (so nothing sends on
// the queue any more): it closes the queue and waits, up to timeout, for the
// workers to finish every job in it.
func (a *app) drain(timeout time.Duration) error {
	log.Printf("drain: started, %d jobs queued", queued.Value())
	close(a.jobs)
	done := make(chan struct{})
	go func() { a.workers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
		return fmt.Errorf("gave up after %v with %d jobs queued", timeout, queued.Value())
	}
	log.Printf("drain: complete, accepted=%d delivered=%d cancelled=%d failed=%d",
		accepted.Value(), delivered.Value(), cancelled.Value(), failed.Value())
	return nil
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

func envDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil && d > 0 {
		return d
	}
	return def
}

// newApp is the service with its pool of workers started.
func newApp(webhookURL string, workers, queue int, timeout time.Duration) *app {
	// As many idle connections as workers: each worker keeps reusing one.
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = workers
	a := &app{
		webhookURL: webhookURL,
		client:     &http.Client{Transport: transport},
		timeout:    timeout,
		jobs:       make(chan job, queue),
	}
	a.startWorkers(workers)
	return a
}

func (a *app) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /orders", a.createOrder)
	return withTraceID(mux)
}

func main() {
	upstream := os.Getenv("UPSTREAM_URL")
	if upstream == "" {
		upstream = "http://127.0.0.1:9090"
	}
	a := newApp(upstream+"/hooks/order", envInt("WORKERS", 4), envInt("QUEUE", 32),
		envDuration("WEBHOOK_TIMEOUT", 5*time.Second))
	// Server timeouts and a graceful shutdown (lessons 20 and 21): on SIGTERM it
	// stops accepting and waits for the handlers in flight; then the queue drains.
	if err := serve.Run(serve.Addr(), a.handler()); err != nil {
		log.Fatal(err)
	}
	if err := a.drain(envDuration("DRAIN_TIMEOUT", 15*time.Second)); err != nil {
		log.Fatal("drain: ", err)
	}
}
