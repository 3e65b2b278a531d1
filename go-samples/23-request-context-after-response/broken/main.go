// Command broken is an order service. POST /orders answers 202 Accepted at once,
// and the fulfilment service (UPSTREAM_URL) is told about the order by a webhook
// that a goroutine sends in the background, so that the caller does not wait for it.
//
// The goroutine borrows the request instead of taking what it needs from it:
//
//   - its context is r.Context(), which net/http cancels as soon as the handler
//     returns, that is, right after the 202 is written: the webhook fails with
//     "context canceled" and the order is never fulfilled;
//   - it reads the order record while the handler is still filling it in: a data
//     race (go build -race reports it);
//   - nothing bounds how many such goroutines run, and nothing waits for them when
//     the process stops.
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
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"gopitfalls/samples/internal/traceparent"
)

// The work the service promised (accepted) and what became of it.
var (
	accepted  = expvar.NewInt("orders_accepted")
	delivered = expvar.NewInt("webhooks_delivered")
	cancelled = expvar.NewInt("webhooks_cancelled") // failed with context.Canceled
	failed    = expvar.NewInt("webhooks_failed")    // failed otherwise (timeout, refused, 5xx)
	withTrace = expvar.NewInt("webhooks_with_trace_id")
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

// withTrace stores the caller's trace id (from its traceparent header, or a new
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

type app struct {
	webhookURL string
	client     *http.Client
	nextID     atomic.Int64
}

func (a *app) createOrder(w http.ResponseWriter, r *http.Request) {
	o := &order{}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10)).Decode(o); err != nil || o.Item == "" || o.Qty < 1 {
		http.Error(w, "want a JSON order: {\"item\": \"...\", \"qty\": 1}", http.StatusBadRequest)
		return
	}
	o.ID = a.nextID.Add(1)
	accepted.Add(1)
	// The caller should not wait for the fulfilment service: send the webhook in the
	// background, finish the order and answer now.
	go a.notify(r, o)
	o.Status = "accepted"
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	json.NewEncoder(w).Encode(o)
}

// notify sends the order to the fulfilment service, with the request's trace id.
func (a *app) notify(r *http.Request, o *order) {
	body, _ := json.Marshal(o)
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, a.webhookURL, bytes.NewReader(body))
	if err != nil {
		log.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Traceparent", fmt.Sprintf("00-%s-%016x-01", traceID(r.Context()), rand.Uint64()))
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
		log.Printf("order %d: webhook lost: %v", o.ID, err)
		return
	}
	delivered.Add(1)
	if traceID(r.Context()) != "" {
		withTrace.Add(1)
	}
}

func newApp(webhookURL string) *app {
	return &app{webhookURL: webhookURL, client: &http.Client{Timeout: 5 * time.Second}}
}

func (a *app) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /orders", a.createOrder)
	return withTraceID(mux)
}

func main() {
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	upstream := os.Getenv("UPSTREAM_URL")
	if upstream == "" {
		upstream = "http://127.0.0.1:9090"
	}
	a := newApp(upstream + "/hooks/order")
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("listening on %s", ln.Addr())
	log.Fatal(http.Serve(ln, a.handler()))
}
