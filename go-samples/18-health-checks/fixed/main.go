// Command fixed is lesson 18's catalogue service with health checks that mean what
// the balancer and the supervisor take them to mean:
//
//  1. GET /livez, for the supervisor, checks nothing outside the process: if the
//     handler runs, the process is alive, and a restart would not bring the database
//     back;
//  2. GET /readyz, for the balancer, says whether this instance can serve: a
//     background check pings the database every 100 ms with a short timeout and the
//     handler answers from its cached result (probes cost no query, and a slow
//     database cannot make the probe itself hang);
//  3. on SIGTERM readiness turns false first, the balancer's probes see it and stop
//     sending, and only then does Server.Shutdown close the listener and wait for the
//     requests in flight.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"gopitfalls/samples/internal/cluster"
	_ "gopitfalls/samples/internal/pgdriver" // registers "pgteach"
	"gopitfalls/samples/internal/serve"
)

// How readiness is checked, and how long a stopping instance stays up unready so the
// balancer sees it before the listener closes (two failed probes 100 ms apart, and
// room for a late one).
const (
	readyEvery   = 100 * time.Millisecond
	readyTimeout = 150 * time.Millisecond
	drainDelay   = 500 * time.Millisecond
)

type service struct {
	db       *sql.DB
	dbOK     atomic.Bool // the last database check passed
	stopping atomic.Bool // SIGTERM arrived
}

// item looks one item up: the service's work needs the database.
func (s *service) item(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), time.Second)
	defer cancel()
	var name string
	var stock int
	err := s.db.QueryRowContext(ctx, `SELECT name, stock FROM items WHERE sku = $1`,
		r.URL.Query().Get("sku")).Scan(&name, &stock)
	if err != nil {
		log.Printf("item: %v", err)
		http.Error(w, "database error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"name": name, "stock": stock})
}

// livez: the process answers, so it is alive. No dependency is checked here.
func livez(w http.ResponseWriter, r *http.Request) {
	w.Write([]byte("alive\n"))
}

// readyz answers from the cached check: 503 while the database is unreachable or the
// instance is stopping.
func (s *service) readyz(w http.ResponseWriter, r *http.Request) {
	switch {
	case s.stopping.Load():
		http.Error(w, "stopping", http.StatusServiceUnavailable)
	case !s.dbOK.Load():
		http.Error(w, "database unreachable", http.StatusServiceUnavailable)
	default:
		w.Write([]byte("ready\n"))
	}
}

// checkDB pings the database every readyEvery, each ping bounded by readyTimeout,
// and caches the result for readyz, until ctx ends.
func (s *service) checkDB(ctx context.Context) {
	for {
		ping, cancel := context.WithTimeout(ctx, readyTimeout)
		err := s.db.PingContext(ping)
		cancel()
		if s.dbOK.Swap(err == nil) != (err == nil) {
			log.Printf("readiness: database reachable = %v (%v)", err == nil, err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(readyEvery):
		}
	}
}

func (s *service) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/item", s.item)
	mux.HandleFunc("GET /livez", livez)
	mux.HandleFunc("GET /readyz", s.readyz)
	return mux
}

// serveUntil serves on ln until ctx ends, then turns readiness off, waits drain for
// the balancer to notice, and shuts the server down gracefully.
func (s *service) serveUntil(ctx context.Context, ln net.Listener, srv *http.Server,
	drain time.Duration) error {
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	s.stopping.Store(true) // step 3: unready first...
	log.Printf("stopping: readiness off, draining for %v", drain)
	time.Sleep(drain)
	shutdown, cancel := context.WithTimeout(context.Background(), serve.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil { // ...then stop accepting and finish
		return err
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func main() {
	cluster.Main(cluster.Config{
		Ready: cluster.Probe{Path: "/readyz"}, // the balancer: can it serve now?
		Live:  cluster.Probe{Path: "/livez"},  // the supervisor: is the process stuck?
	})
	db, err := sql.Open("pgteach", os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	db.SetMaxOpenConns(10)
	db.SetMaxIdleConns(10)
	s := &service{db: db}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go s.checkDB(ctx)
	ln, err := net.Listen("tcp", serve.Addr())
	if err != nil {
		log.Fatal(err)
	}
	if err := s.serveUntil(ctx, ln, serve.NewServer(s.routes()), drainDelay); err != nil {
		log.Fatal(err)
	}
}
