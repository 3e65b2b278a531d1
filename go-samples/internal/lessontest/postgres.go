package lessontest

import (
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"sync/atomic"
	"testing"

	_ "gopitfalls/samples/internal/pgdriver" // registers "pgteach"
)

// PostgresURLEnv names the PostgreSQL server the tests may use (a URL). The Python
// tests that start a server set it; without it, tests that need one skip.
const PostgresURLEnv = "GOPITFALLS_PG_URL"

var schemas atomic.Int64

// PostgresSchema gives the test a schema of its own on the server named by
// $GOPITFALLS_PG_URL (the test skips when it is unset), runs setupSQL in it (one
// or more statements, such as a lesson's seed.sql) and returns the server's URL
// with search_path set to that schema and application_name set to app, so every
// connection opened from it sees only this test's tables and can be found in
// pg_stat_activity. The schema is dropped when the test ends.
func PostgresSchema(t *testing.T, app, setupSQL string) string {
	t.Helper()
	raw := os.Getenv(PostgresURLEnv)
	if raw == "" {
		t.Skip(PostgresURLEnv + " is not set: these tests need a PostgreSQL server")
	}
	schema := fmt.Sprintf("lessontest_%d_%d", os.Getpid(), schemas.Add(1))
	admin, err := sql.Open("pgteach", raw)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgteach", raw)
		if err == nil {
			db.Exec("DROP SCHEMA " + schema + " CASCADE")
			db.Close()
		}
	})
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	if setupSQL != "" {
		db, err := sql.Open("pgteach", u.String())
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec(setupSQL); err != nil {
			t.Fatalf("setting up schema %s: %v", schema, err)
		}
	}
	return u.String()
}
