// Command broken is lesson 13's shop service as it is often first written: a
// *sql.DB left with database/sql's defaults (no cap on open connections, two
// idle ones kept), and a checkout that keeps its transaction open while it asks
// the payment service to charge the customer.
//
// Under a burst of requests the pool opens one server connection per request in
// flight, until PostgreSQL's max_connections is reached and every further one is
// refused with "sorry, too many clients already" (SQLSTATE 53300).
package main

import (
	"database/sql"
	"encoding/json"
	"errors"
	"expvar"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strconv"
	"time"

	"gopitfalls/samples/internal/pgdriver"
)

var (
	requestsTotal  = expvar.NewInt("requests_total")
	dbErrors       = expvar.NewInt("db_errors_total")
	tooManyClients = expvar.NewInt("errors_too_many_clients") // SQLSTATE 53300
)

// publishPool publishes db.Stats() as the expvar map db_pool, read by the lab's
// probe (and by anyone at /debug/vars).
func publishPool(db *sql.DB) {
	expvar.Publish("db_pool", expvar.Func(func() any {
		s := db.Stats()
		return map[string]int64{
			"max_open":         int64(s.MaxOpenConnections), // 0: no limit
			"open":             int64(s.OpenConnections),
			"in_use":           int64(s.InUse),
			"idle":             int64(s.Idle),
			"wait_count":       s.WaitCount,
			"wait_duration_ms": s.WaitDuration.Milliseconds(),
			"max_idle_closed":  s.MaxIdleClosed, // closed because more than MaxIdleConns were idle
			"lifetime_closed":  s.MaxLifetimeClosed + s.MaxIdleTimeClosed,
		}
	}))
}

// itemQuery looks one item up by its key. pg_sleep stands in for what makes a
// real query slow, disk reads and lock waits: the connection is busy for that
// long while the server's CPU is free, as it is in production.
const itemQuery = `SELECT i.sku, i.name, i.stock, i.price_cents
FROM items AS i CROSS JOIN pg_sleep($2)
WHERE i.sku = $1`

type item struct {
	SKU        string `json:"sku"`
	Name       string `json:"name"`
	Stock      int    `json:"stock"`
	PriceCents int    `json:"price_cents"`
}

type shop struct {
	db         *sql.DB
	paymentURL string
	queryDelay float64 // seconds of pg_sleep per item lookup
}

// fail answers a database error with 500 and counts it by its SQLSTATE: the code
// is what a program should branch on, the message text is translated.
func (s *shop) fail(w http.ResponseWriter, route string, err error) {
	dbErrors.Add(1)
	var pgErr *pgdriver.Error
	if errors.As(err, &pgErr) && pgErr.Code == pgdriver.TooManyConnections {
		tooManyClients.Add(1)
	}
	log.Printf("%s: %v", route, err)
	http.Error(w, "database error", http.StatusInternalServerError)
}

func (s *shop) handleItem(w http.ResponseWriter, r *http.Request) {
	requestsTotal.Add(1)
	// No deadline: if the pool or the server is slow, the request waits for it.
	rows, err := s.db.Query(itemQuery, r.URL.Query().Get("sku"), s.queryDelay)
	if err != nil {
		s.fail(w, "GET /api/item", err)
		return
	}
	var it item
	found := false
	for rows.Next() {
		if err := rows.Scan(&it.SKU, &it.Name, &it.Stock, &it.PriceCents); err != nil {
			// Returning here leaves rows open: its connection is never given back.
			s.fail(w, "GET /api/item", err)
			return
		}
		found = true
	}
	if !found {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(it)
}

// handleCheckout sells one item: it reads the price, charges the customer through
// the payment service, records the order and takes the item from the stock, all
// in one transaction "so that nothing is half done". The transaction, and the
// connection under it, stays open for as long as the payment service takes.
func (s *shop) handleCheckout(w http.ResponseWriter, r *http.Request) {
	requestsTotal.Add(1)
	sku := r.URL.Query().Get("sku")
	tx, err := s.db.Begin()
	if err != nil {
		s.fail(w, "POST /api/checkout", err)
		return
	}
	var price int
	if err := tx.QueryRow(`SELECT price_cents FROM items WHERE sku = $1`, sku).Scan(&price); err != nil {
		// No Rollback on this path: the transaction stays open and keeps its
		// connection out of the pool for good.
		s.fail(w, "POST /api/checkout", err)
		return
	}
	ref, err := s.charge(sku, price) // a remote call inside the transaction
	if err != nil {
		tx.Rollback()
		log.Printf("POST /api/checkout: payment: %v", err)
		http.Error(w, "payment failed", http.StatusBadGateway)
		return
	}
	if _, err := tx.Exec(`INSERT INTO orders (sku, price_cents, payment_ref) VALUES ($1, $2, $3)`,
		sku, price, ref); err != nil {
		s.fail(w, "POST /api/checkout", err)
		return
	}
	if _, err := tx.Exec(`UPDATE items SET stock = stock - 1 WHERE sku = $1`, sku); err != nil {
		s.fail(w, "POST /api/checkout", err)
		return
	}
	if err := tx.Commit(); err != nil {
		s.fail(w, "POST /api/checkout", err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"sku":%q,"price_cents":%d,"payment_ref":%q}`+"\n", sku, price, ref)
}

// charge asks the payment service to charge price_cents for sku and returns its
// reference for the payment.
func (s *shop) charge(sku string, price int) (string, error) {
	resp, err := http.Post(s.paymentURL+"/charge?sku="+sku+"&cents="+strconv.Itoa(price), "", nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var answer struct {
		N int `json:"n"`
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("payment service: %s", resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&answer); err != nil {
		return "", fmt.Errorf("payment service: %w", err)
	}
	return "pay-" + strconv.Itoa(answer.N), nil
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n >= 0 {
		return n
	}
	return def
}

func main() {
	db, err := sql.Open("pgteach", os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	publishPool(db)
	s := &shop{
		db:         db,
		paymentURL: os.Getenv("UPSTREAM_URL"),
		queryDelay: (time.Duration(envInt("QUERY_MS", 20)) * time.Millisecond).Seconds(),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/item", s.handleItem)
	mux.HandleFunc("POST /api/checkout", s.handleCheckout)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	log.Printf("listening on %s", addr)
	log.Fatal(http.ListenAndServe(addr, mux))
}
