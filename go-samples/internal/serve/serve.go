// Package serve runs a fixed sample's HTTP server the way a production service
// should, so that no fixed program teaches the bare http.ListenAndServe that
// lesson 20 warns against:
//
//   - every http.Server timeout set (lesson 20: a zero timeout means none), and a
//     cap on header size;
//   - SIGTERM and SIGINT start a graceful shutdown (lesson 21): stop accepting,
//     let the requests in flight finish, give up after ShutdownTimeout.
//
// Lessons 20 and 21 spell this out in their own main.go, because it is what they
// teach; every other fixed program calls [Run] and keeps its own lesson in view.
package serve

import (
	"context"
	"errors"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// The limits every fixed sample serves with. Handlers that may take longer than
// WriteTimeout bound their own work with a context deadline first (lessons 02, 03).
const (
	ReadHeaderTimeout = 5 * time.Second
	ReadTimeout       = 30 * time.Second
	WriteTimeout      = 60 * time.Second
	IdleTimeout       = 120 * time.Second
	MaxHeaderBytes    = 64 << 10
	// ShutdownTimeout stays below the 30 s an orchestrator usually waits between
	// SIGTERM and SIGKILL, so the process exits on its own terms.
	ShutdownTimeout = 10 * time.Second
)

// Addr is the listen address: $ADDR, or 127.0.0.1:8080 (loopback, never all
// interfaces).
func Addr() string {
	if addr := os.Getenv("ADDR"); addr != "" {
		return addr
	}
	return "127.0.0.1:8080"
}

// NewServer is an http.Server for h with the limits above.
func NewServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
	}
}

// Run listens on addr and serves h until SIGTERM or SIGINT, then shuts down
// gracefully. It returns nil after a clean shutdown, or why serving or shutting
// down failed.
func Run(addr string, h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return Serve(ln, h)
}

// Serve is [Run] on a listener the caller opened.
func Serve(ln net.Listener, h http.Handler) error {
	return ServeServer(ln, NewServer(h))
}

// ServeServer is [Serve] with a server the caller configured itself (lesson 20
// sets its own timeouts): it serves until SIGTERM or SIGINT, then shuts down
// gracefully.
func ServeServer(ln net.Listener, srv *http.Server) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	log.Printf("listening on %s", ln.Addr())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	stop() // a second signal ends the process the default way
	shutdownCtx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Printf("shut down cleanly")
	return nil
}
