// Command broken is lesson 18's catalogue service with the health check most
// services start with: GET /healthz answers 200 as long as the process can answer at
// all. The balancer and the supervisor both ask it, and it says "fine" while every
// request that needs the database fails.
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

// healthz says 200 whatever happens: it only proves the process answers HTTP.
func healthz(w http.ResponseWriter, r *http.Request) {
	w.Write([]byte("ok\n"))
}

func (s *service) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/item", s.item)
	mux.HandleFunc("GET /healthz", healthz)
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
