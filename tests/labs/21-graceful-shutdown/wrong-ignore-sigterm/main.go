// A ticket-booking service: POST /bookings?show=42 reserves a seat and captures the
// payment with the card provider, 1.2 s of work. A load balancer polls GET /readyz every
// 50 ms and sends bookings only while it answers 200.
//
// A wrong fix of lab 21: SIGTERM is caught so that it kills nothing, and it only fails
// readiness. No booking is lost, but the process never exits: the deploy waits, and the
// orchestrator kills it after its grace period anyway.
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
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

// draining is set on SIGTERM: the service takes no new bookings from the balancer.
var draining atomic.Bool

// readyz tells the load balancer whether to send bookings here.
func readyz(w http.ResponseWriter, r *http.Request) {
	if draining.Load() {
		http.Error(w, "draining", http.StatusServiceUnavailable)
		return
	}
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

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)
	go func() {
		<-sigs
		draining.Store(true)
		log.Printf("SIGTERM: readyz answers 503 from now on")
	}()
	log.Fatal(srv.ListenAndServe())
}
