// Command lab is lab 18's order service: GET /api/orders/{id} reads one order from
// PostgreSQL. It runs as two instances behind a load balancer and a supervisor (package
// cluster): the balancer sends traffic only to instances whose readiness probe passes,
// the supervisor restarts an instance after 3 failed liveness probes in a row (probes
// every 100 ms, 200 ms to answer). Each instance reaches the database through a path
// of its own, and the check cuts instance 1's path for 2 s while orders keep coming.
//
// Today both probes ask GET /healthz, which answers 200 as long as the process answers
// HTTP: the balancer keeps sending half of the orders to the instance that cannot read
// them.
//
// Your task: give the balancer a readiness check that fails while this instance cannot
// reach its database (and passes again once it can), answering fast from a result
// checked in the background, and give the supervisor a liveness check that a database
// outage does not fail: a restarted process would not reach the database either.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"log"
	"net/http"
	"os"
	"strconv"
	"time"

	"gopitfalls/samples/internal/cluster"
	_ "gopitfalls/samples/internal/pgdriver" // registers "pgteach"
)

type orders struct{ db *sql.DB }

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

// healthz answers 200 whenever the process can answer at all.
// TODO: this says nothing about the database, and the balancer and the supervisor
// need different answers: split it into a readiness and a liveness endpoint.
func healthz(w http.ResponseWriter, r *http.Request) {
	w.Write([]byte("ok\n"))
}

func (o *orders) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/orders/{id}", o.get)
	mux.HandleFunc("GET /healthz", healthz)
	return mux
}

func main() {
	cluster.Main(cluster.Config{
		Ready: cluster.Probe{Path: "/healthz"}, // TODO: the balancer's question: can this instance serve orders now?
		Live:  cluster.Probe{Path: "/healthz"}, // TODO: the supervisor's question: is this process stuck, so only a restart helps?
	})
	db, err := sql.Open("pgteach", os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	o := &orders{db: db}
	// TODO: check the database in the background here, and let readiness answer from it.
	log.Fatal(http.ListenAndServe(os.Getenv("ADDR"), o.routes()))
}
