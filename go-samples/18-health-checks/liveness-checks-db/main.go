// Command liveness-checks-db is lesson 18's second broken health check, the one
// written after the first: GET /healthz now pings the database, and both the balancer
// and the supervisor ask it. The balancer takes the instance out of rotation, as it
// should, but the supervisor reads the same failure as "this process is stuck" and
// restarts it, again and again: a new process cannot reach the database either.
//
// Run by the lab engine, the program is the cluster (package cluster): a balancer
// on $ADDR that probes readiness, a supervisor that probes liveness, and two
// instances of this same program, each reaching PostgreSQL through a path of its
// own that the lesson can cut.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"log"
	"net/http"
	"os"
	"time"

	"gopitfalls/samples/internal/cluster"
	_ "gopitfalls/samples/internal/pgdriver" // registers "pgteach"
)

type service struct{ db *sql.DB }

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

// healthz answers 503 when the database does not answer a ping within 200 ms.
func (s *service) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 200*time.Millisecond)
	defer cancel()
	if err := s.db.PingContext(ctx); err != nil {
		http.Error(w, "database: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Write([]byte("ok\n"))
}

func (s *service) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/item", s.item)
	mux.HandleFunc("GET /healthz", s.healthz)
	return mux
}

func main() {
	cluster.Main(cluster.Config{
		Ready: cluster.Probe{Path: "/healthz"}, // the balancer asks it
		Live:  cluster.Probe{Path: "/healthz"}, // and so does the supervisor
	})
	db, err := sql.Open("pgteach", os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	db.SetMaxOpenConns(10)
	db.SetMaxIdleConns(10)
	log.Fatal(http.ListenAndServe(os.Getenv("ADDR"), (&service{db: db}).routes()))
}
