// An invoice export service: GET /export?customer=7 gathers a customer's invoices and
// renders them as a PDF, two slow calls of 1.5 s each.
//
// Your task: the mobile app calling this service gives up after 100 ms and retries later,
// and at 100 requests a second the service runs out of goroutines and memory. Make the
// work stop when its caller has gone, and keep serving a caller who waits for the export.
// The TODO markers show where. `gopitfalls check 03` judges your version.
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
// TODO: they ignore ctx; make each one return ctx.Err() as soon as ctx is done.
func fetchInvoices(ctx context.Context, customer string) ([]string, error) {
	time.Sleep(callTime)
	return []string{customer + "-2026-11", customer + "-2026-12"}, nil
}

func renderPDF(ctx context.Context, invoices []string) ([]byte, error) {
	time.Sleep(callTime)
	return []byte(fmt.Sprintf("%%PDF invoices %v", invoices)), nil
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
		// TODO: this context belongs to nobody; the export should end with its request.
		ctx := context.Background()
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
		// The caller left. The goroutine above is not told.
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
