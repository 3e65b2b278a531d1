// Lesson 22, fixed: the same order service, after the lesson's three-step fix.
//
//		GET /customers/{id}/open-order   the customer's newest open order (404 if none)
//		GET /report/customers?limit=N    every customer with their lifetime value
//
//	 1. Every rows from Query is closed with `defer rows.Close()` on the line after its
//	    error check, so no return path (a found row, a Scan error) keeps the connection.
//	 2. After the loop, rows.Err() tells a finished result from a failed one: a report the
//	    server cut short answers 504 instead of a short list with 200.
//	 3. A query meant to return one row is QueryRowContext: the filter moves into the
//	    SQL (LIMIT 1), Scan closes the rows itself, and the request's context bounds the
//	    wait for a pooled connection as well as the query.
//
// The database is PostgreSQL through the course's teaching driver (internal/pgdriver,
// driver "pgteach"); a real service uses pgx. Both behave the same way here: the
// pitfalls belong to database/sql, not to a driver.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"expvar"
	"log"
	"net/http"
	"os"
	"strconv"
	"time"

	"gopitfalls/samples/internal/pgdriver"
	"gopitfalls/samples/internal/serve"
)

// The pool is sized sanely: the leak is not a configuration problem.
const maxOpenConns = 10

// requestBudget bounds a request's database work: the wait for a pooled connection
// and the query. Past it the request answers 504 rather than waiting on.
const requestBudget = 2 * time.Second

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
	ctx, cancel := context.WithTimeout(r.Context(), requestBudget)
	defer cancel()
	var o order
	err := s.db.QueryRowContext(ctx, `SELECT id, total, status, created_at::text FROM orders
		WHERE customer_id = $1 AND status = 'open' ORDER BY created_at DESC LIMIT 1`,
		r.PathValue("id")).Scan(&o.ID, &o.Total, &o.Status, &o.Created)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		http.Error(w, "no open order", http.StatusNotFound)
	case err != nil:
		queryFailed(w, err)
	default:
		writeJSON(w, http.StatusOK, o)
	}
}

// report lists every customer with what they have spent.
func (s *service) report(w http.ResponseWriter, r *http.Request) {
	limit, err := strconv.Atoi(r.URL.Query().Get("limit"))
	if err != nil || limit <= 0 {
		limit = 1 << 30
	}
	ctx, cancel := context.WithTimeout(r.Context(), requestBudget)
	defer cancel()
	rows, err := s.db.QueryContext(ctx, `SELECT id, email, lifetime_value(id) FROM customers
		ORDER BY id LIMIT $1`, limit)
	if err != nil {
		queryFailed(w, err)
		return
	}
	defer rows.Close() // whatever path returns, the connection goes back to the pool
	list := []customerValue{}
	for rows.Next() {
		var c customerValue
		if err := rows.Scan(&c.ID, &c.Email, &c.Value); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		list = append(list, c)
	}
	// Next returned false: at the end of the rows, or because the query failed.
	if err := rows.Err(); err != nil {
		queryFailed(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"count": len(list), "customers": list})
}

// queryFailed answers a failed query: 504 when it ran out of time (our budget, or the
// server's statement_timeout cancelled it), 500 for anything else.
func queryFailed(w http.ResponseWriter, err error) {
	var pgErr *pgdriver.Error
	if errors.Is(err, context.DeadlineExceeded) ||
		(errors.As(err, &pgErr) && pgErr.Code == pgdriver.QueryCanceled) {
		http.Error(w, "the query ran out of time: "+err.Error(), http.StatusGatewayTimeout)
		return
	}
	http.Error(w, err.Error(), http.StatusInternalServerError)
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
	if err := serve.Run(serve.Addr(), s.routes()); err != nil {
		log.Fatal(err)
	}
	db.Close()
}
