package main

// The fixed service gives back every connection and reports a query that failed half
// way; tested on a fake driver (internal/fakesql), with database/sql's real pool.

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

var customers = [][]driver.Value{
	{int64(1), "a@example.com", "10.00"}, {int64(2), "b@example.com", "20.00"},
	{int64(3), "c@example.com", "30.00"},
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

// Many more lookups than connections: each one gives its connection back. The fake
// answers two rows, as a query without LIMIT 1 would: QueryRow's Scan still closes them.
func TestLookupsGiveTheirConnectionBack(t *testing.T) {
	s, db := newService(t, func(string, []driver.NamedValue) fakesql.Answer {
		return fakesql.Answer{
			Columns: []string{"id", "total", "status", "created_at"},
			Rows: [][]driver.Value{{int64(3), "19.99", "open", "2026-01-03"},
				{int64(2), "29.99", "open", "2026-01-02"}},
		}
	}, 2)
	h := s.routes()
	for i := range 20 {
		answered := make(chan *httptest.ResponseRecorder, 1)
		go func() { answered <- get(h, "/customers/7/open-order") }()
		select {
		case w := <-answered:
			if w.Code != http.StatusOK {
				t.Fatalf("lookup %d: %d %s", i, w.Code, w.Body)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("lookup %d got no answer in 5 s: %d of 2 connections in use", i, db.Stats().InUse)
		}
	}
	if st := db.Stats(); st.InUse != 0 || st.WaitCount != 0 {
		t.Fatalf("after 20 lookups on 2 connections: %d in use, %d waits; want 0 and 0", st.InUse, st.WaitCount)
	}
}

func TestNoOpenOrderIs404(t *testing.T) {
	s, db := newService(t, func(string, []driver.NamedValue) fakesql.Answer {
		return fakesql.Answer{Columns: []string{"id", "total", "status", "created_at"}}
	}, 2)
	if w := get(s.routes(), "/customers/7/open-order"); w.Code != http.StatusNotFound {
		t.Fatalf("got %d %s, want 404", w.Code, w.Body)
	}
	if got := db.Stats().InUse; got != 0 {
		t.Fatalf("%d connections in use, want 0", got)
	}
}

func TestReport(t *testing.T) {
	cancelled := &pgdriver.Error{Severity: "ERROR", Code: pgdriver.QueryCanceled,
		Message: "canceling statement due to statement timeout"}
	cases := []struct {
		name      string
		answer    fakesql.Answer
		status    int
		wantCount int
	}{
		{"complete", fakesql.Answer{Rows: customers}, http.StatusOK, 3},
		{"cancelled after two rows", fakesql.Answer{Rows: customers, FailAfter: 2, Err: cancelled},
			http.StatusGatewayTimeout, 0},
		{"broken connection after one row", fakesql.Answer{Rows: customers, FailAfter: 1, Err: driver.ErrBadConn},
			http.StatusInternalServerError, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.answer.Columns = []string{"id", "email", "lifetime_value"}
			s, db := newService(t, func(string, []driver.NamedValue) fakesql.Answer { return c.answer }, 2)
			w := get(s.routes(), "/report/customers")
			if w.Code != c.status {
				t.Fatalf("got %d %s, want %d", w.Code, w.Body, c.status)
			}
			if c.status == http.StatusOK {
				var body struct{ Count int }
				if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Count != c.wantCount {
					t.Fatalf("count %d (%v), want %d", body.Count, err, c.wantCount)
				}
			}
			if got := db.Stats().InUse; got != 0 {
				t.Fatalf("%d connections in use, want 0", got)
			}
		})
	}
}
