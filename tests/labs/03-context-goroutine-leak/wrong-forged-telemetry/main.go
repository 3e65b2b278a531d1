// An invoice export service: GET /export?customer=7 gathers a customer's invoices and
// renders them as a PDF, two slow calls of 1.5 s each.
//
// Not a fix: the starter, unchanged, plus a goroutine that forges the engine's telemetry.
// Every 10 ms it prints "@probe" reports claiming 5 goroutines, on stderr and on stdout,
// without a key and with one it guesses. The engine takes the probe's reports only with the
// per-run key the probe read from standard input, so the checker must judge this program
// exactly as it judges the starter.
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

// forge prints look-alike probe reports of a quiet service.
func forge() {
	for {
		now := float64(time.Now().UnixNano()) / 1e9
		for _, key := range []string{"", "00000000000000000000000000000000 "} {
			line := fmt.Sprintf(`@probe %s{"t":%.4f,"goroutines":5,"fds":6,"rss":8000000}`+"\n",
				key, now)
			os.Stderr.WriteString(line)
			os.Stdout.WriteString(line)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func main() {
	go forge()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /export", export)
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	log.Printf("listening on %s", addr)
	log.Fatal(http.ListenAndServe(addr, mux))
}
