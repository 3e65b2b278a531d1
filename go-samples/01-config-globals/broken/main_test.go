package main

import (
	"encoding/json"
	"net/http/httptest"
	"testing"
)

const testDB = "postgres://catalog@db.internal:5432/catalog"

// env is a fake environment for loadConfig.
type env map[string]string

func (e env) get(key string) string { return e[key] }

// restoreConfig puts the package variables back as they were when the test ends.
func restoreConfig(t *testing.T) {
	db, timeout, limit := databaseURL, requestTimeout, maxItems
	t.Cleanup(func() { databaseURL, requestTimeout, maxItems = db, timeout, limit })
}

func getItems(t *testing.T, query string) (int, page) {
	t.Helper()
	rec := httptest.NewRecorder()
	routes().ServeHTTP(rec, httptest.NewRequest("GET", "/items?q="+query, nil))
	var p page
	if rec.Code == 200 {
		if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
	}
	return rec.Code, p
}

// Bad values are accepted without a word: they become zero values.
func TestBadValuesBecomeZeroValues(t *testing.T) {
	restoreConfig(t)
	loadConfig(env{"REQUEST_TIMEOUT": "abc", "MAX_ITEMS": "abc"}.get)
	if databaseURL != "" || requestTimeout != 0 || maxItems != 0 {
		t.Fatalf("got %q, %v, %d; want the zero values", databaseURL, requestTimeout, maxItems)
	}
}

// The service "works" with them: healthy, but every search fails or comes back empty.
func TestZeroValuesMakeAnUnusableService(t *testing.T) {
	restoreConfig(t)
	rec := httptest.NewRecorder()
	routes().ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	if rec.Code != 200 {
		t.Fatalf("/healthz: %d", rec.Code)
	}
	cases := []struct {
		env    env
		status int
		items  int
	}{
		{env{}, 500, 0}, // no DATABASE_URL
		{env{"DATABASE_URL": testDB, "REQUEST_TIMEOUT": "abc"}, 504, 0},                    // timeout 0
		{env{"DATABASE_URL": testDB, "REQUEST_TIMEOUT": "2s", "MAX_ITEMS": "abc"}, 200, 0}, // page size 0
		{env{"DATABASE_URL": testDB, "REQUEST_TIMEOUT": "2s", "MAX_ITEMS": "50"}, 200, 50},
	}
	for _, c := range cases {
		loadConfig(c.env.get)
		status, p := getItems(t, "")
		if status != c.status || len(p.Items) != c.items {
			t.Errorf("%v: got %d with %d items, want %d with %d", c.env, status, len(p.Items), c.status, c.items)
		}
	}
}
