// A ticket-booking service: POST /bookings?show=42 reserves a seat and captures the
// payment with the card provider, 1.2 s of work. A load balancer polls GET /readyz every
// 50 ms and sends bookings only while it answers 200.
//
// A wrong fix of lab 21: readiness, drain and Shutdown run in a goroutine, but main still
// ends with log.Fatal(srv.ListenAndServe()). ListenAndServe returns ErrServerClosed the
// moment Shutdown starts, so the process exits (status 1) with the bookings in flight.
package main

import (
	"context"
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

	go func() {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		defer stop()
		<-ctx.Done()
		draining.Store(true)
		time.Sleep(500 * time.Millisecond)
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(shutdownCtx); err != nil {
			log.Printf("shutdown: %v", err)
		}
	}()
	log.Fatal(srv.ListenAndServe())
}
