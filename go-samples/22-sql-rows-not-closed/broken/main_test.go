package main

// These tests show the two pitfalls happen (they pass because the bugs are there), on a
// fake driver (internal/fakesql): database/sql's pool is the real one.

import (
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"gopitfalls/samples/22-sql-rows-not-closed/internal/fakesql"
	"gopitfalls/samples/internal/pgdriver"
)

// orders answers the open-order query with the customer's orders, newest first: a
// shipped one, then an open one, then two more.
func orders(string, []driver.NamedValue) fakesql.Answer {
	return fakesql.Answer{
		Columns: []string{"id", "total", "status", "created_at"},
		Rows: [][]driver.Value{
			{int64(4), "9.99", "shipped", "2026-01-04"},
			{int64(3), "19.99", "open", "2026-01-03"},
			{int64(2), "29.99", "open", "2026-01-02"},
			{int64(1), "39.99", "shipped", "2026-01-01"},
		},
	}
}

func newService(t *testing.T, reply func(string, []driver.NamedValue) fakesql.Answer, maxOpen int) (*service, *sql.DB) {
	t.Helper()
	db := sql.OpenDB(&fakesql.Connector{Reply: reply})
	db.SetMaxOpenConns(maxOpen)
	t.Cleanup(func() { db.Close() })
	return &service{db: db}, db
}

func get(h http.Handler, path string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
	return w
}

// Each answered lookup keeps one connection in use; once all are, the next lookup waits
// for a connection that never comes back.
func TestEveryLookupPinsAConnection(t *testing.T) {
	s, db := newService(t, orders, 3)
	h := s.routes()
	for i := 1; i <= 3; i++ {
		if w := get(h, "/customers/7/open-order"); w.Code != http.StatusOK {
			t.Fatalf("lookup %d: %d %s", i, w.Code, w.Body)
		}
		if got := db.Stats().InUse; got != i {
			t.Fatalf("after %d lookups: %d connections in use, want %d (one pinned by each)", i, got, i)
		}
	}
	done := make(chan struct{})
	go func() { get(h, "/customers/7/open-order"); close(done) }()
	select {
	case <-done:
		t.Fatal("a lookup was answered while every connection was pinned")
	case <-time.After(300 * time.Millisecond):
	}
	if st := db.Stats(); st.WaitCount != 1 {
		t.Fatalf("wait count %d, want 1 (the fourth lookup waiting)", st.WaitCount)
	}
	// db.Close (cleanup) ends the wait: the waiter gets "sql: database is closed".
}

// A query that fails after two rows is answered as a complete list of two.
func TestAFailedReportLooksComplete(t *testing.T) {
	cancelled := &pgdriver.Error{Severity: "ERROR", Code: pgdriver.QueryCanceled,
		Message: "canceling statement due to statement timeout"}
	s, db := newService(t, func(string, []driver.NamedValue) fakesql.Answer {
		return fakesql.Answer{
			Columns: []string{"id", "email", "lifetime_value"},
			Rows: [][]driver.Value{
				{int64(1), "a@example.com", "10.00"}, {int64(2), "b@example.com", "20.00"},
				{int64(3), "c@example.com", "30.00"},
			},
			FailAfter: 2, Err: cancelled,
		}
	}, 3)
	w := get(s.routes(), "/report/customers")
	var body struct{ Count int }
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("%d %s: %v", w.Code, w.Body, err)
	}
	if w.Code != http.StatusOK || body.Count != 2 {
		t.Fatalf("got %d with %d rows; the broken report answers 200 with the 2 rows read before the failure", w.Code, body.Count)
	}
	if got := db.Stats().InUse; got != 0 {
		t.Fatalf("%d connections in use: a failed Next closes the rows by itself", got)
	}
}
