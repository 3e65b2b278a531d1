// A ticket-booking service: POST /bookings?show=42 reserves a seat and captures the
// payment with the card provider, 1.2 s of work. A load balancer polls GET /readyz every
// 50 ms and sends bookings only while it answers 200.
//
// Your task: every deploy sends SIGTERM, the process ends at once, and every booking in
// flight is lost (the customer is charged, or not, and sees an error). On SIGTERM, make
// /readyz answer 503 at once, keep serving for 0.5 s so that the balancer notices, then
// stop accepting and let every booking in flight finish before the process exits 0.
// The TODO markers show where. `gopitfalls check 21` judges your version.
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
	"sync/atomic"
	"time"
)

// captureTime is how long the card provider takes to capture a payment.
const captureTime = 1200 * time.Millisecond

var nextSeat atomic.Int64

func book(w http.ResponseWriter, r *http.Request) {
	show := r.URL.Query().Get("show")
	select {
	case <-time.After(captureTime):
	case <-r.Context().Done(): // the customer gave up
		return
	}
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintf(w, "booked show %s seat %d\n", show, nextSeat.Add(1))
}

// readyz tells the load balancer whether to send bookings here.
// TODO: answer 503 once the service is shutting down.
func readyz(w http.ResponseWriter, r *http.Request) {
	fmt.Fprintln(w, "ready")
}

func main() {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /bookings", book)
	mux.HandleFunc("GET /readyz", readyz)
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	log.Printf("listening on %s", addr)
	// TODO: SIGTERM ends the process here, in the middle of the bookings in flight.
	// Catch it, fail readiness, wait 0.5 s, then shut the server down gracefully.
	log.Fatal(srv.ListenAndServe())
}
