package main

import (
	"database/sql"
	"net/http"
	"net/http/httptest"
	"testing"
)

// unreachable is a database URL nothing listens on (port 1 is refused at once).
const unreachable = "postgres://lesson@127.0.0.1:1/lesson?sslmode=disable"

// The bug: with the database gone, every real request fails and /healthz still says
// 200, so neither the balancer nor the supervisor can tell.
func TestHealthzSaysOKWithTheDatabaseGone(t *testing.T) {
	db, err := sql.Open("pgteach", unreachable)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	srv := httptest.NewServer((&service{db: db}).routes())
	defer srv.Close()
	for path, want := range map[string]int{"/api/item?sku=sku-001": 500, "/healthz": 200} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s with the database gone: %d, want %d", path, resp.StatusCode, want)
		}
	}
}
