package main

// The tests that need PostgreSQL skip unless GOPITFALLS_PG_URL names a server
// (see lessontest.PostgresSchema); each works in a schema of its own, seeded
// with the lesson's seed.sql. TestShedsWhenNoConnectionComesFree needs none.

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"gopitfalls/samples/internal/lessontest"
)

func seed(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../seed.sql")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func open(t *testing.T, dsn string, maxConns int) *sql.DB {
	t.Helper()
	db, err := openDB(dsn, maxConns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// A burst three times the pool's size waits for the pool: never more than the
// cap of server connections, every request answered, none closed for being idle.
func TestBurstStaysUnderTheCap(t *testing.T) {
	const n, maxConns = 12, 4
	db := open(t, lessontest.PostgresSchema(t, "l13-fixed-burst", seed(t)), maxConns)
	s := &shop{db: db, queryDelay: 0.1, poolWait: 2 * time.Second}
	srv := httptest.NewServer(newHandler(s))
	defer srv.Close()
	var wg sync.WaitGroup
	statuses := make([]int, n)
	peak := 0
	var mu sync.Mutex
	done := make(chan struct{})
	go func() { // sample the pool while the burst runs
		for {
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
				mu.Lock()
				peak = max(peak, db.Stats().OpenConnections)
				mu.Unlock()
			}
		}
	}()
	for i := range n {
		wg.Go(func() {
			status, _, err := lessontest.Get(srv.URL + "/api/item?sku=sku-0001")
			if err != nil {
				t.Error(err)
			}
			statuses[i] = status
		})
	}
	wg.Wait()
	close(done)
	for i, status := range statuses {
		if status != http.StatusOK {
			t.Errorf("request %d: status %d, want 200", i, status)
		}
	}
	st := db.Stats()
	mu.Lock()
	defer mu.Unlock()
	if peak > maxConns || st.OpenConnections > maxConns {
		t.Errorf("open connections peaked at %d, now %d: want at most %d", peak, st.OpenConnections, maxConns)
	}
	if st.WaitCount < n-maxConns {
		t.Errorf("WaitCount = %d, want at least %d (the requests beyond the cap wait)", st.WaitCount, n-maxConns)
	}
	if st.MaxIdleClosed != 0 || st.Idle != st.OpenConnections {
		t.Errorf("closed for being idle: %d, idle %d of %d open: want every connection kept for reuse",
			st.MaxIdleClosed, st.Idle, st.OpenConnections)
	}
}

// No connection is held, and no transaction open, while the payment service
// works; the order is then recorded and the stock taken in one short transaction.
func TestCheckoutHoldsNoConnectionDuringThePayment(t *testing.T) {
	const app = "l13-fixed-checkout"
	dsn := lessontest.PostgresSchema(t, app, seed(t))
	observer := open(t, withApp(t, dsn, "l13-observer"), 1)
	s := &shop{db: open(t, dsn, 4), payments: &http.Client{Timeout: time.Second}, poolWait: time.Second}
	seen := make(chan string, 1)
	payments := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var states string
		err := observer.QueryRow(`SELECT coalesce(string_agg(state, ','), '') FROM pg_stat_activity
			WHERE application_name = $1 AND state <> 'idle'`, app).Scan(&states)
		if err != nil {
			t.Error(err)
		}
		seen <- fmt.Sprintf("in use %d, busy sessions %q", s.db.Stats().InUse, states)
		fmt.Fprintln(w, `{"ok":true,"n":7}`)
	}))
	defer payments.Close()
	s.paymentURL = payments.URL
	srv := httptest.NewServer(newHandler(s))
	defer srv.Close()

	out := lessontest.Do(t, srv, "POST", "/api/checkout?sku=sku-0001", "")
	if out.Status != http.StatusOK {
		t.Fatalf("checkout: %d %s", out.Status, out.Body)
	}
	if got, want := <-seen, `in use 0, busy sessions ""`; got != want {
		t.Errorf("during the payment call: %s, want %s", got, want)
	}
	var ref string
	var stock int
	if err := s.db.QueryRow(`SELECT o.payment_ref, i.stock FROM orders o JOIN items i USING (sku)`).
		Scan(&ref, &stock); err != nil || ref != "pay-7" || stock != 999999 {
		t.Errorf("order %q, stock %d (%v): want pay-7 and one item taken", ref, stock, err)
	}
}

// A query past its deadline answers 504 within the deadline, and the server
// stops it (pgdriver cancels), so the connection goes back to the pool.
func TestQueryDeadline(t *testing.T) {
	db := open(t, lessontest.PostgresSchema(t, "l13-fixed-deadline", seed(t)), 2)
	srv := httptest.NewServer(newHandler(&shop{db: db, queryDelay: 10, poolWait: time.Second}))
	defer srv.Close()
	start := time.Now()
	status, _, err := lessontest.Get(srv.URL + "/api/item?sku=sku-0001")
	took := time.Since(start)
	if err != nil || status != http.StatusGatewayTimeout {
		t.Fatalf("status %d (%v), want 504", status, err)
	}
	if took > queryTimeout+time.Second {
		t.Errorf("answered after %v, want about %v", took, queryTimeout)
	}
	if st := db.Stats(); st.InUse != 0 || st.Idle != 1 {
		t.Errorf("after the timeout: %d in use, %d idle; want the connection back in the pool", st.InUse, st.Idle)
	}
}

// When no connection comes free within the pool-wait budget, the request is
// answered 503 with Retry-After at once, and counted as shed.
func TestShedsWhenNoConnectionComesFree(t *testing.T) {
	db := sql.OpenDB(fakeConnector{})
	defer db.Close()
	db.SetMaxOpenConns(1)
	held, err := db.Conn(context.Background()) // the only connection, taken
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	s := &shop{db: db, poolWait: 50 * time.Millisecond}
	before := shedTotal.Value()
	rec := httptest.NewRecorder()
	start := time.Now()
	newHandler(s).ServeHTTP(rec, httptest.NewRequest("GET", "/api/item?sku=sku-0001", nil))
	took := time.Since(start)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "1" {
		t.Errorf("status %d, Retry-After %q: want 503 and 1", rec.Code, rec.Header().Get("Retry-After"))
	}
	if got := shedTotal.Value() - before; got != 1 {
		t.Errorf("shed_total grew by %d, want 1", got)
	}
	if took > 500*time.Millisecond {
		t.Errorf("shed after %v, want about the 50 ms budget", took)
	}
	if st := db.Stats(); st.WaitCount != 1 {
		t.Errorf("WaitCount = %d, want 1", st.WaitCount)
	}
}

// fakeConnector hands out connections that can do nothing: enough to fill a pool.
type fakeConnector struct{}

func (fakeConnector) Connect(context.Context) (driver.Conn, error) { return fakeConn{}, nil }
func (fakeConnector) Driver() driver.Driver                        { return nil }

type fakeConn struct{}

var errFake = errors.New("fake connection: no queries")

func (fakeConn) Prepare(string) (driver.Stmt, error) { return nil, errFake }
func (fakeConn) Close() error                        { return nil }
func (fakeConn) Begin() (driver.Tx, error)           { return nil, errFake }

func withApp(t *testing.T, dsn, app string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	return u.String()
}
