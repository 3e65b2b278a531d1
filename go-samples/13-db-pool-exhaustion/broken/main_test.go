package main

// The tests that need PostgreSQL skip unless GOPITFALLS_PG_URL names a server
// (see lessontest.PostgresSchema); each works in a schema of its own, seeded
// with the lesson's seed.sql.

import (
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sync"
	"testing"

	"gopitfalls/samples/internal/lessontest"
	"gopitfalls/samples/internal/pgdriver"
)

func seed(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../seed.sql")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func open(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgteach", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func handler(s *shop) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/item", s.handleItem)
	mux.HandleFunc("POST /api/checkout", s.handleCheckout)
	return mux
}

// A burst of n requests, each holding its connection for 200 ms, opens n server
// connections: nothing caps the pool. Once they are done, all but the two that
// database/sql keeps idle by default are closed again, to be reopened by the
// next burst.
func TestBurstOpensAConnectionPerRequest(t *testing.T) {
	const n = 12
	db := open(t, lessontest.PostgresSchema(t, "l13-broken-burst", seed(t)))
	srv := httptest.NewServer(handler(&shop{db: db, queryDelay: 0.2}))
	defer srv.Close()
	var wg sync.WaitGroup
	statuses := make([]int, n)
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
	for i, status := range statuses {
		if status != http.StatusOK {
			t.Errorf("request %d: status %d, want 200", i, status)
		}
	}
	st := db.Stats()
	if st.MaxOpenConnections != 0 {
		t.Errorf("MaxOpenConnections = %d, want 0 (no limit)", st.MaxOpenConnections)
	}
	if st.WaitCount != 0 {
		t.Errorf("WaitCount = %d: with no limit nobody waits for the pool", st.WaitCount)
	}
	if opened := int64(st.OpenConnections) + st.MaxIdleClosed; opened != n {
		t.Errorf("connections opened = %d (open %d + closed %d), want %d: one per request",
			opened, st.OpenConnections, st.MaxIdleClosed, n)
	}
	if st.Idle != 2 {
		t.Errorf("idle connections kept = %d, want database/sql's default of 2", st.Idle)
	}
}

// While the payment service works, the checkout's session sits "idle in
// transaction" on the server: it holds a connection and does nothing with it.
func TestCheckoutHoldsATransactionAcrossThePayment(t *testing.T) {
	const app = "l13-broken-checkout"
	dsn := lessontest.PostgresSchema(t, app, seed(t))
	observer := open(t, withApp(t, dsn, "l13-observer"))
	states := make(chan string, 1)
	payments := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var state string
		err := observer.QueryRow(`SELECT coalesce(string_agg(state, ','), '') FROM pg_stat_activity
			WHERE application_name = $1`, app).Scan(&state)
		if err != nil {
			t.Error(err)
		}
		states <- state
		fmt.Fprintln(w, `{"ok":true,"n":7}`)
	}))
	defer payments.Close()
	s := &shop{db: open(t, dsn), paymentURL: payments.URL}
	srv := httptest.NewServer(handler(s))
	defer srv.Close()

	out := lessontest.Do(t, srv, "POST", "/api/checkout?sku=sku-0001", "")
	if out.Status != http.StatusOK {
		t.Fatalf("checkout: %d %s", out.Status, out.Body)
	}
	if got := <-states; got != "idle in transaction" {
		t.Errorf("the checkout's session during the payment call: %q, want \"idle in transaction\"", got)
	}
	var ref string
	if err := s.db.QueryRow(`SELECT payment_ref FROM orders`).Scan(&ref); err != nil || ref != "pay-7" {
		t.Errorf("order recorded with payment_ref %q (%v), want pay-7", ref, err)
	}
}

// Errors are counted by SQLSTATE, not by their text.
func TestTooManyClientsIsCountedByItsCode(t *testing.T) {
	before := tooManyClients.Value()
	s := &shop{}
	rec := httptest.NewRecorder()
	s.fail(rec, "test", fmt.Errorf("query: %w", &pgdriver.Error{Severity: "FATAL",
		Code: pgdriver.TooManyConnections, Message: "sorry, too many clients already"}))
	s.fail(httptest.NewRecorder(), "test", &pgdriver.Error{Severity: "ERROR", Code: pgdriver.SyntaxError})
	if got := tooManyClients.Value() - before; got != 1 {
		t.Errorf("errors_too_many_clients grew by %d, want 1", got)
	}
	if rec.Code != http.StatusInternalServerError {
		t.Errorf("status %d, want 500", rec.Code)
	}
}

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
