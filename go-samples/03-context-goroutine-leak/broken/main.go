// A report service: each request looks up an account, prices it, and renders a report.
//
// The pitfall: the work runs in a goroutine started with context.Background(), and the
// slow steps sleep instead of watching a context. When the caller gives up (here after
// 100 ms), the handler returns, but the work carries on for its full four seconds, for
// nobody. Under steady load the goroutines pile up: rate × work time of them.
package main

import (
	"context"
	"expvar"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"
)

var (
	workStarted      = expvar.NewInt("work_started")
	workAfterLeaving = expvar.NewInt("work_finished_after_client_left")
	workCancelled    = expvar.NewInt("work_cancelled")
)

// stepTime is how long each of the two slow dependency calls takes.
const stepTime = 2 * time.Second

// lookupAccount and priceAccount stand in for slow dependency calls (a database query,
// a pricing service). They ignore ctx, as blocking calls written without it do.
func lookupAccount(ctx context.Context, id string) string {
	time.Sleep(stepTime)
	return "account-" + id
}

func priceAccount(ctx context.Context, account string) string {
	time.Sleep(stepTime)
	return account + ": 42.00 EUR"
}

func report(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("id")
	result := make(chan string, 1)
	workStarted.Add(1)
	go func() {
		ctx := context.Background() // detached from the request: nothing can stop it
		account := lookupAccount(ctx, id)
		price := priceAccount(ctx, account)
		if r.Context().Err() != nil {
			workAfterLeaving.Add(1)
		}
		result <- price
	}()
	select {
	case price := <-result:
		fmt.Fprintln(w, price)
	case <-r.Context().Done():
		// The client left; the goroutine above does not know and keeps working.
	}
}

func main() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /report", report)
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	log.Printf("listening on %s", addr)
	log.Fatal(http.ListenAndServe(addr, mux))
}
