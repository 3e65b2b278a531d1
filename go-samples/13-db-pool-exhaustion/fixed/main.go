// Command fixed is lesson 13's shop service after the fix:
//
//  1. the pool is sized: at most DB_MAX_CONNS server connections (under the
//     server's max_connections, which other instances and tools share), as many
//     kept idle so they are reused instead of reopened, and recycled after a
//     lifetime and an idle time;
//  2. transactions are short: the payment service is called with no connection
//     held, every query has a deadline, `defer tx.Rollback()` and
//     `defer rows.Close()` give the connection back on every path;
//  3. load is shed: a request that cannot get a connection within the pool-wait
//     budget is answered 503 with Retry-After at once, instead of queueing.
package main

import (
	"context"
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
	"gopitfalls/samples/internal/serve"
)

var (
	requestsTotal  = expvar.NewInt("requests_total")
	dbErrors       = expvar.NewInt("db_errors_total")
	tooManyClients = expvar.NewInt("errors_too_many_clients") // SQLSTATE 53300
	shedTotal      = expvar.NewInt("shed_total")              // 503: no connection within the budget
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

// Deadlines. A request that has waited this long is no longer worth serving.
const (
	queryTimeout    = 1 * time.Second // GET /api/item, the wait for the pool included
	checkoutTimeout = 3 * time.Second // POST /api/checkout, the payment call included
	paymentTimeout  = 2 * time.Second
)

// errPoolBusy: no connection came free within the pool-wait budget.
var errPoolBusy = errors.New("no database connection free within the pool-wait budget")

type shop struct {
	db         *sql.DB
	payments   *http.Client
	paymentURL string
	queryDelay float64       // seconds of pg_sleep per item lookup
	poolWait   time.Duration // the longest a new request waits for a connection
}

// admit takes a connection for a new request, waiting at most the pool-wait
// budget for one (step 3 of the fix). It returns errPoolBusy when the budget ran
// out: the request is shed before it has done anything.
func (s *shop) admit(ctx context.Context) (*sql.Conn, error) {
	wait, cancel := context.WithTimeout(ctx, s.poolWait)
	defer cancel()
	c, err := s.db.Conn(wait)
	if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		return nil, errPoolBusy
	}
	return c, err
}

// fail answers an error: 503 with Retry-After when the request was shed, 504 when
// its deadline passed, 500 otherwise. Database errors are counted by SQLSTATE.
func (s *shop) fail(w http.ResponseWriter, route string, err error) {
	switch {
	case errors.Is(err, errPoolBusy):
		shedTotal.Add(1)
		w.Header().Set("Retry-After", "1")
		http.Error(w, "busy, retry later", http.StatusServiceUnavailable)
		return
	case errors.Is(err, context.DeadlineExceeded):
		log.Printf("%s: %v", route, err)
		http.Error(w, "timed out", http.StatusGatewayTimeout)
		return
	}
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
	ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
	defer cancel()
	c, err := s.admit(ctx)
	if err != nil {
		s.fail(w, "GET /api/item", err)
		return
	}
	defer c.Close() // back to the pool
	rows, err := c.QueryContext(ctx, itemQuery, r.URL.Query().Get("sku"), s.queryDelay)
	if err != nil {
		s.fail(w, "GET /api/item", err)
		return
	}
	defer rows.Close() // on every path, the early returns included
	var it item
	found := false
	for rows.Next() {
		if err := rows.Scan(&it.SKU, &it.Name, &it.Stock, &it.PriceCents); err != nil {
			s.fail(w, "GET /api/item", err)
			return
		}
		found = true
	}
	if err := rows.Err(); err != nil {
		s.fail(w, "GET /api/item", err)
		return
	}
	if !found {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(it)
}

// handleCheckout sells one item in three short steps, holding a connection only
// while it talks to the database: read the price, charge the customer with no
// connection held, then record the order and take the item from the stock in one
// short transaction.
func (s *shop) handleCheckout(w http.ResponseWriter, r *http.Request) {
	requestsTotal.Add(1)
	ctx, cancel := context.WithTimeout(r.Context(), checkoutTimeout)
	defer cancel()
	sku := r.URL.Query().Get("sku")
	price, err := s.price(ctx, sku)
	if err != nil {
		s.fail(w, "POST /api/checkout", err)
		return
	}
	ref, err := s.charge(ctx, sku, price) // no connection held while the payment service works
	if err != nil {
		log.Printf("POST /api/checkout: payment: %v", err)
		http.Error(w, "payment failed", http.StatusBadGateway)
		return
	}
	// The customer is charged: record the order, waiting for a connection as long as
	// the request's deadline allows (shedding is decided before any work is done).
	if err := s.recordOrder(ctx, sku, price, ref); err != nil {
		s.fail(w, "POST /api/checkout", err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"sku":%q,"price_cents":%d,"payment_ref":%q}`+"\n", sku, price, ref)
}

func (s *shop) price(ctx context.Context, sku string) (int, error) {
	c, err := s.admit(ctx)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	var price int
	err = c.QueryRowContext(ctx, `SELECT price_cents FROM items WHERE sku = $1`, sku).Scan(&price)
	return price, err
}

// recordOrder is the whole transaction: two statements, no remote call.
func (s *shop) recordOrder(ctx context.Context, sku string, price int, ref string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() // a no-op after Commit; ends the transaction on every other path
	if _, err := tx.ExecContext(ctx, `INSERT INTO orders (sku, price_cents, payment_ref) VALUES ($1, $2, $3)`,
		sku, price, ref); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE items SET stock = stock - 1 WHERE sku = $1`, sku); err != nil {
		return err
	}
	return tx.Commit()
}

// charge asks the payment service to charge price_cents for sku and returns its
// reference for the payment.
func (s *shop) charge(ctx context.Context, sku string, price int) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		s.paymentURL+"/charge?sku="+sku+"&cents="+strconv.Itoa(price), nil)
	if err != nil {
		return "", err
	}
	resp, err := s.payments.Do(req)
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

func newHandler(s *shop) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/item", s.handleItem)
	mux.HandleFunc("POST /api/checkout", s.handleCheckout)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	return mux
}

// openDB opens the pool with its limits set (step 1 of the fix).
func openDB(dsn string, maxConns int) (*sql.DB, error) {
	db, err := sql.Open("pgteach", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(maxConns) // below the server's max_connections
	db.SetMaxIdleConns(maxConns) // keep them: opening one costs the server a process
	db.SetConnMaxLifetime(30 * time.Minute)
	db.SetConnMaxIdleTime(5 * time.Minute)
	return db, nil
}

func main() {
	maxConns := envInt("DB_MAX_CONNS", 10)
	db, err := openDB(os.Getenv("DATABASE_URL"), maxConns)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	publishPool(db)
	s := &shop{
		db:         db,
		payments:   &http.Client{Timeout: paymentTimeout},
		paymentURL: os.Getenv("UPSTREAM_URL"),
		queryDelay: (time.Duration(envInt("QUERY_MS", 20)) * time.Millisecond).Seconds(),
		poolWait:   time.Duration(envInt("POOL_WAIT_MS", 250)) * time.Millisecond,
	}
	log.Printf("pool: at most %d connections, pool-wait budget %v", maxConns, s.poolWait)
	// Server timeouts and a graceful shutdown, as lessons 20 and 21 teach.
	if err := serve.Run(serve.Addr(), newHandler(s)); err != nil {
		log.Fatal(err)
	}
}
