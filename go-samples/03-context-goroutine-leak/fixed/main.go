// A report service: each request looks up an account, prices it, and renders a report.
//
// The fix, in three steps:
//  1. derive the work's context from the request: context.WithTimeout(r.Context(), budget),
//     so it ends when the caller leaves or the budget runs out;
//  2. pass ctx to every call (the work can then run in the handler itself: it stops when
//     the caller leaves, so there is nothing to detach from);
//  3. in every wait, select on ctx.Done() as well (no bare time.Sleep), and stop.
//
// context.WithoutCancel is for work that must outlive the response on purpose (an audit
// record, say); this report is not such work.
package main

import (
	"context"
	"expvar"
	"fmt"
	"log"
	"net/http"
	"time"

	"gopitfalls/samples/internal/serve"
)

var (
	workStarted      = expvar.NewInt("work_started")
	workAfterLeaving = expvar.NewInt("work_finished_after_client_left")
	workCancelled    = expvar.NewInt("work_cancelled")
)

// stepTime is how long each of the two slow dependency calls takes.
const stepTime = 2 * time.Second

// budget bounds the whole report, whatever the caller's own deadline.
const budget = 5 * time.Second

// sleep waits like a slow dependency call, but gives up as soon as ctx is done.
// time.After is fine here: since Go 1.23 a timer nothing refers to any more is
// collected whether or not it fired, so no Stop is needed to avoid a leak.
func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func lookupAccount(ctx context.Context, id string) (string, error) {
	if err := sleep(ctx, stepTime); err != nil {
		return "", err
	}
	return "account-" + id, nil
}

func priceAccount(ctx context.Context, account string) (string, error) {
	if err := sleep(ctx, stepTime); err != nil {
		return "", err
	}
	return account + ": 42.00 EUR", nil
}

func report(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("id")
	ctx, cancel := context.WithTimeout(r.Context(), budget)
	defer cancel()
	workStarted.Add(1)
	// With ctx passed down, the work stops by itself when the caller leaves: it can run
	// right here, and no detached goroutine is needed to stop waiting for it.
	account, err := lookupAccount(ctx, id)
	if err == nil {
		var price string
		if price, err = priceAccount(ctx, account); err == nil {
			if r.Context().Err() != nil { // counted exactly as the broken service counts it
				workAfterLeaving.Add(1)
			}
			fmt.Fprintln(w, price)
			return
		}
	}
	workCancelled.Add(1)
	if r.Context().Err() == nil { // our budget ran out, the caller is still there
		http.Error(w, "report took too long", http.StatusGatewayTimeout)
	}
}

func main() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /report", report)
	// Server timeouts and a graceful shutdown, as lessons 20 and 21 teach.
	if err := serve.Run(serve.Addr(), mux); err != nil {
		log.Fatal(err)
	}
}
