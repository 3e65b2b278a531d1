// A ticket-booking service: POST /bookings?show=42 reserves a seat and captures the
// payment with the card provider, 1.2 s of work. A load balancer polls GET /readyz every
// 50 ms and sends bookings only while it answers 200.
//
// The reference answer of lab 21: SIGTERM fails readiness, the service drains for 0.5 s,
// then Server.Shutdown waits for the bookings in flight and main returns (exit 0).
// NOTES.md says why each change is needed.
package main

import (
	"context"
	"errors"
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

	// SIGTERM cancels ctx instead of ending the process.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.ListenAndServe() }()
	select {
	case err := <-serveErr: // the server never started (the port is taken, say)
		log.Fatal(err)
	case <-ctx.Done():
	}
	stop() // a second SIGTERM ends the process the default way

	// Readiness fails first; the balancer needs a poll or two to stop sending here.
	draining.Store(true)
	log.Printf("shutdown: readyz answers 503, draining for 0.5 s")
	time.Sleep(500 * time.Millisecond)

	// Stop accepting, close idle connections, wait for the bookings in flight.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Printf("shutdown: gave up: %v", err)
		os.Exit(1)
	}
	if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
		log.Printf("serve: %v", err)
	}
	log.Printf("shutdown: complete")
}
