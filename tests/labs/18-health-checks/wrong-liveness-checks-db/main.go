// Wrong fix: a good readiness check (cached background ping), but the supervisor is
// given the same endpoint: "if the database is away, the instance is unhealthy, so
// restart it". A database outage becomes a restart loop.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"log"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"gopitfalls/samples/internal/cluster"
	_ "gopitfalls/samples/internal/pgdriver" // registers "pgteach"
)

// How often readiness checks the database, and how long one check may take (under
// the balancer's 100 ms probe interval plus its 200 ms timeout).
const (
	checkEvery   = 100 * time.Millisecond
	checkTimeout = 150 * time.Millisecond
)

type orders struct {
	db   *sql.DB
	dbOK atomic.Bool // the last database check passed
}

type order struct {
	ID       int    `json:"id"`
	Customer string `json:"customer"`
	Total    int    `json:"total_cents"`
	Status   string `json:"status"`
}

// get answers one order; it needs the database.
func (o *orders) get(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil {
		http.Error(w, "bad order id", http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Second)
	defer cancel()
	ord := order{ID: id}
	err = o.db.QueryRowContext(ctx,
		`SELECT customer, total, status FROM orders WHERE id = $1`, id).
		Scan(&ord.Customer, &ord.Total, &ord.Status)
	switch {
	case err == sql.ErrNoRows:
		http.Error(w, "no such order", http.StatusNotFound)
		return
	case err != nil:
		log.Printf("order %d: %v", id, err)
		http.Error(w, "order store unavailable", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(ord)
}

// livez: the handler runs, so the process is alive. No dependency is checked.
func livez(w http.ResponseWriter, r *http.Request) {
	w.Write([]byte("alive\n"))
}

// readyz answers from the last background check: 503 while the database is away.
func (o *orders) readyz(w http.ResponseWriter, r *http.Request) {
	if !o.dbOK.Load() {
		http.Error(w, "order store unreachable", http.StatusServiceUnavailable)
		return
	}
	w.Write([]byte("ready\n"))
}

// checkDB pings the database every checkEvery, each ping bounded by checkTimeout, and
// stores every result for readyz, until ctx ends.
func (o *orders) checkDB(ctx context.Context) {
	tick := time.NewTicker(checkEvery)
	defer tick.Stop()
	for {
		ping, cancel := context.WithTimeout(ctx, checkTimeout)
		err := o.db.PingContext(ping)
		cancel()
		if o.dbOK.Swap(err == nil) != (err == nil) {
			log.Printf("readiness: order store reachable = %v (%v)", err == nil, err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (o *orders) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/orders/{id}", o.get)
	mux.HandleFunc("GET /livez", livez)
	mux.HandleFunc("GET /readyz", o.readyz)
	return mux
}

func main() {
	cluster.Main(cluster.Config{
		Ready: cluster.Probe{Path: "/readyz"}, // the balancer: can it serve orders now?
		Live:  cluster.Probe{Path: "/readyz"}, // the supervisor asks the same
	})
	db, err := sql.Open("pgteach", os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	o := &orders{db: db}
	go o.checkDB(context.Background())
	log.Fatal(http.ListenAndServe(os.Getenv("ADDR"), o.routes()))
}
