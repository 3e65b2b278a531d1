// An invoice export service: GET /export?customer=7 gathers a customer's invoices and
// renders them as a PDF, two slow calls of 1.5 s each.
//
// A wrong fix of lab 03: the calls watch their context, but the context is a 5 s timeout
// derived from context.Background(): an abandoned export still runs its whole 3 s.
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

var exportsStarted = expvar.NewInt("exports_started")

// callTime is how long each of the two slow calls takes.
const callTime = 1500 * time.Millisecond

// fetchInvoices and renderPDF stand in for a database query and a rendering service.
// Each waits for its result or for ctx, whichever comes first.
func fetchInvoices(ctx context.Context, customer string) ([]string, error) {
	if err := wait(ctx, callTime); err != nil {
		return nil, err
	}
	return []string{customer + "-2026-11", customer + "-2026-12"}, nil
}

func renderPDF(ctx context.Context, invoices []string) ([]byte, error) {
	if err := wait(ctx, callTime); err != nil {
		return nil, err
	}
	return []byte(fmt.Sprintf("%%PDF invoices %v", invoices)), nil
}

// wait stands in for a call that honours its context, as net/http and database/sql do.
func wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func export(w http.ResponseWriter, r *http.Request) {
	customer := r.URL.Query().Get("customer")
	exportsStarted.Add(1)
	type outcome struct {
		pdf []byte
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		// The request's context: cancelled when the caller leaves or the handler returns.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		invoices, err := fetchInvoices(ctx, customer)
		if err != nil {
			done <- outcome{err: err}
			return
		}
		pdf, err := renderPDF(ctx, invoices)
		done <- outcome{pdf, err}
	}()
	select {
	case out := <-done:
		if out.err != nil {
			http.Error(w, "export failed", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/pdf")
		w.Write(out.pdf)
	case <-r.Context().Done():
		// The caller left: ctx is done, so the calls above return at once.
	}
}

func main() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /export", export)
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	log.Printf("listening on %s", addr)
	log.Fatal(http.ListenAndServe(addr, mux))
}
