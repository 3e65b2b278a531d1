// Lesson 22, broken: a shop's order service that forgets what a *sql.Rows holds.
//
//	GET /customers/{id}/open-order   the customer's newest open order (404 if none)
//	GET /report/customers?limit=N    every customer with their lifetime value
//
// Two pitfalls, one per handler:
//
//   - openOrder returns from inside `for rows.Next()` as soon as it finds the order it
//     wants, and never calls rows.Close(): the rows keep their pooled connection busy,
//     forever, because nothing else will close them. Once every connection of the pool
//     is pinned this way, each new query waits for a free one that never comes.
//   - report loops until rows.Next() returns false and answers 200. But Next also
//     returns false when the query fails half way (here: the server's
//     statement_timeout cancels it), and only rows.Err() tells the two apart; the
//     client gets a short list that looks complete.
//
// The database is PostgreSQL through the course's teaching driver (internal/pgdriver,
// driver "pgteach"); a real service uses pgx. Both behave the same way here: the
// pitfalls belong to database/sql, not to a driver.
package main

import (
	"database/sql"
	"encoding/json"
	"expvar"
	"log"
	"net/http"
	"os"
	"strconv"
	"time"

	_ "gopitfalls/samples/internal/pgdriver"
)

// The pool is sized sanely: the leak is not a configuration problem.
const maxOpenConns = 10

type order struct {
	ID      int64   `json:"id"`
	Total   float64 `json:"total"`
	Status  string  `json:"status"`
	Created string  `json:"created_at"`
}

type customerValue struct {
	ID    int64   `json:"id"`
	Email string  `json:"email"`
	Value float64 `json:"lifetime_value"`
}

type service struct{ db *sql.DB }

// openOrder finds the newest order of the customer that is still open.
func (s *service) openOrder(w http.ResponseWriter, r *http.Request) {
	rows, err := s.db.Query(`SELECT id, total, status, created_at::text FROM orders
		WHERE customer_id = $1 ORDER BY created_at DESC`, r.PathValue("id"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	for rows.Next() {
		var o order
		if err := rows.Scan(&o.ID, &o.Total, &o.Status, &o.Created); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if o.Status == "open" {
			writeJSON(w, http.StatusOK, o)
			return // found it: and the rows, with their connection, stay open
		}
	}
	http.Error(w, "no open order", http.StatusNotFound)
}

// report lists every customer with what they have spent.
func (s *service) report(w http.ResponseWriter, r *http.Request) {
	limit, err := strconv.Atoi(r.URL.Query().Get("limit"))
	if err != nil || limit <= 0 {
		limit = 1 << 30
	}
	rows, err := s.db.Query(`SELECT id, email, lifetime_value(id) FROM customers
		ORDER BY id LIMIT $1`, limit)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	list := []customerValue{}
	for rows.Next() {
		var c customerValue
		if err := rows.Scan(&c.ID, &c.Email, &c.Value); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		list = append(list, c)
	}
	// Next returned false: the end of the rows, or a failure. Nobody asked which.
	writeJSON(w, http.StatusOK, map[string]any{"count": len(list), "customers": list})
}

func (s *service) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /customers/{id}/open-order", s.openOrder)
	mux.HandleFunc("GET /report/customers", s.report)
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// publishPoolStats makes db.Stats() readable as expvar "db": the pool as database/sql
// sees it, sampled by the lab's probe.
func publishPoolStats(db *sql.DB) {
	expvar.Publish("db", expvar.Func(func() any {
		st := db.Stats()
		return map[string]int64{
			"max_open":         int64(st.MaxOpenConnections),
			"open":             int64(st.OpenConnections),
			"in_use":           int64(st.InUse),
			"idle":             int64(st.Idle),
			"wait_count":       st.WaitCount,
			"wait_duration_ms": st.WaitDuration.Milliseconds(),
		}
	}))
}

func main() {
	db, err := sql.Open("pgteach", os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	db.SetMaxOpenConns(maxOpenConns)
	db.SetMaxIdleConns(maxOpenConns)
	db.SetConnMaxLifetime(30 * time.Minute)
	publishPoolStats(db)

	s := &service{db: db}
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	log.Printf("listening on %s", addr)
	log.Fatal(http.ListenAndServe(addr, s.routes()))
}
