package pgdriver

// Tests against a real PostgreSQL: GOPITFALLS_PG_URL names it (the Python test
// tests/test_go_clients.py starts one with max_connections=20 and sets it).
// Without it these tests skip, so a plain `go test ./...` passes.

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"math"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

func serverURL(t *testing.T, app string) string {
	t.Helper()
	raw := os.Getenv("GOPITFALLS_PG_URL")
	if raw == "" {
		t.Skip("GOPITFALLS_PG_URL is not set: it is set by tests/test_go_clients.py, which starts the servers")
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("application_name", app) // lets a test find its own sessions in pg_stat_activity
	u.RawQuery = q.Encode()
	return u.String()
}

func openDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open(DriverName, serverURL(t, "pgteach-"+t.Name()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// oneConn is a single session, for temporary tables (they belong to one session,
// and a *sql.DB may run each statement on a different one).
func oneConn(t *testing.T, db *sql.DB) *sql.Conn {
	t.Helper()
	c, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func backendPID(t *testing.T, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) int64 {
	t.Helper()
	var pid int64
	if err := q.QueryRowContext(context.Background(), "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	return pid
}

func TestConnectAndPing(t *testing.T) {
	db := openDB(t)
	if err := db.Ping(); err != nil {
		t.Fatal(err)
	}
	var version, app string
	if err := db.QueryRow("SELECT version(), current_setting('application_name')").Scan(&version, &app); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(version, "PostgreSQL ") || app != "pgteach-"+t.Name() {
		t.Fatalf("version %q, application_name %q", version, app)
	}
}

// Each type comes back as the Go type database/sql documents for drivers.
func TestTypesRoundTrip(t *testing.T) {
	db := openDB(t)
	row := db.QueryRow(`SELECT 1::int2, 2::int4, 9000000000::int8, 1.5::float4, 0.1::float8,
		'NaN'::float8, '-Infinity'::float8, true, false, 'héllo'::text, 'v'::varchar(3),
		'\x00ff10'::bytea, 12345678901234567890.0123::numeric,
		'2024-05-01 12:30:45.123456+02'::timestamptz, '2024-05-01 12:30:45'::timestamp,
		'2024-05-01'::date, 'infinity'::timestamptz, '{1,2}'::int[]`)
	got := make([]any, 18)
	ptrs := make([]any, len(got))
	for i := range got {
		ptrs[i] = &got[i]
	}
	if err := row.Scan(ptrs...); err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2024, 5, 1, 10, 30, 45, 123456000, time.UTC)
	want := []any{int64(1), int64(2), int64(9000000000), 1.5, 0.1, math.NaN(), math.Inf(-1), true, false,
		"héllo", "v", []byte{0, 0xff, 0x10}, "12345678901234567890.0123",
		ts, time.Date(2024, 5, 1, 12, 30, 45, 0, time.UTC), time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC),
		"infinity", "{1,2}"}
	for i := range want {
		switch w := want[i].(type) {
		case float64:
			if g, ok := got[i].(float64); !ok || !(g == w || math.IsNaN(g) && math.IsNaN(w)) {
				t.Errorf("column %d: got %#v, want %#v", i+1, got[i], w)
			}
		case []byte:
			if g, ok := got[i].([]byte); !ok || !bytes.Equal(g, w) {
				t.Errorf("column %d: got %#v, want %#v", i+1, got[i], w)
			}
		case time.Time:
			if g, ok := got[i].(time.Time); !ok || !g.Equal(w) {
				t.Errorf("column %d: got %#v, want %v", i+1, got[i], w)
			}
		default:
			if got[i] != w {
				t.Errorf("column %d: got %#v (%T), want %#v", i+1, got[i], got[i], w)
			}
		}
	}
	// numeric arrives as text; database/sql converts it when asked to.
	var f float64
	if err := db.QueryRow("SELECT 2.25::numeric").Scan(&f); err != nil || f != 2.25 {
		t.Fatalf("numeric into float64: %v, %v", f, err)
	}
}

func TestNull(t *testing.T) {
	db := openDB(t)
	var n sql.NullInt64
	var s sql.NullString
	var a any = "not nil"
	if err := db.QueryRow("SELECT NULL::int8, NULL::text, NULL").Scan(&n, &s, &a); err != nil {
		t.Fatal(err)
	}
	if n.Valid || s.Valid || a != nil {
		t.Fatalf("got %v %v %v, want three NULLs", n, s, a)
	}
	var v sql.NullString
	if err := db.QueryRow("SELECT $1::text", nil).Scan(&v); err != nil || v.Valid {
		t.Fatalf("nil argument: %v, %v", v, err)
	}
}

// Every parameter comes back exactly as sent, however hostile, and none is ever
// read as SQL.
func TestParameters(t *testing.T) {
	db := openDB(t)
	c := oneConn(t, db)
	ctx := context.Background()
	if _, err := c.ExecContext(ctx, "CREATE TEMP TABLE victim (name text)"); err != nil {
		t.Fatal(err)
	}
	hostile := []string{
		"O'Reilly", "'", "''", `\`, `\'`, `'; DROP TABLE victim; --`, `x' OR '1'='1`,
		"$1", "$$", "$tag$", "/*", "--", "line\nbreak", "日本語", "",
	}
	for _, s := range hostile {
		var got string
		if err := c.QueryRowContext(ctx, "SELECT $1::text", s).Scan(&got); err != nil || got != s {
			t.Errorf("%q: got %q, %v", s, got, err)
		}
		if _, err := c.ExecContext(ctx, "INSERT INTO victim VALUES ($1)", s); err != nil {
			t.Errorf("insert %q: %v", s, err)
		}
	}
	var n int
	if err := c.QueryRowContext(ctx, "SELECT count(*) FROM victim WHERE name = $1", `'; DROP TABLE victim; --`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("the table or the row is gone: %d, %v", n, err)
	}

	// Other types, and the places a $ is not a parameter.
	var (
		i, neg, diff int64
		f            float64
		b            bool
		blob         []byte
		ts           time.Time
		lit, dollar  string
	)
	when := time.Date(2001, 2, 3, 4, 5, 6, 789000000, time.FixedZone("", 5*3600+1800))
	err := c.QueryRowContext(ctx,
		"SELECT $1::int8, $2::int8, 1-$2, $3::float8, $4::bool, $5::bytea, $6::timestamptz, '$1' /* $2 */, $q$ $1 $q$ -- $1\n",
		int64(42), -7, 0.25, true, []byte{0, 1, 0xfe}, when).Scan(&i, &neg, &diff, &f, &b, &blob, &ts, &lit, &dollar)
	if err != nil {
		t.Fatal(err)
	}
	if i != 42 || neg != -7 || diff != 8 || f != 0.25 || !b || !bytes.Equal(blob, []byte{0, 1, 0xfe}) ||
		!ts.Equal(when) || lit != "$1" || dollar != " $1 " {
		t.Fatalf("got %v %v %v %v %v %v %v %q %q", i, neg, diff, f, b, blob, ts, lit, dollar)
	}

	// Mistakes are refused before anything reaches the server.
	if _, err := c.ExecContext(ctx, "SELECT $2", 1); err == nil {
		t.Error("$2 with one argument: no error")
	}
	if _, err := c.ExecContext(ctx, "SELECT $1", sql.Named("x", 1)); err == nil {
		t.Error("named argument: no error")
	}
	if _, err := c.ExecContext(ctx, "SELECT $1", "a\x00b"); err == nil {
		t.Error("zero byte in text: no error")
	}
}

func TestPrepare(t *testing.T) {
	db := openDB(t)
	st, err := db.Prepare("SELECT $1::int + $2 WHERE '$3' <> ''")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var sum int
	if err := st.QueryRow(1, 2).Scan(&sum); err != nil || sum != 3 {
		t.Fatalf("got %d, %v", sum, err)
	}
	if err := st.QueryRow(1).Scan(&sum); err == nil || !strings.Contains(err.Error(), "expected 2 arguments") {
		t.Fatalf("one argument for two placeholders: %v", err)
	}
}

func TestExecResultAndMultipleStatements(t *testing.T) {
	c := oneConn(t, openDB(t))
	ctx := context.Background()
	res, err := c.ExecContext(ctx, "CREATE TEMP TABLE t (n int); INSERT INTO t SELECT generate_series(1, 5)")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 5 {
		t.Fatalf("insert: %d rows affected", n)
	}
	res, _ = c.ExecContext(ctx, "UPDATE t SET n = n + 1 WHERE n > $1", 2)
	if n, _ := res.RowsAffected(); n != 3 {
		t.Fatalf("update: %d rows affected", n)
	}
	if _, err := res.LastInsertId(); err == nil {
		t.Fatal("LastInsertId: no error")
	}
	// A query with several statements returns the rows of the first that has rows.
	rows, err := c.QueryContext(ctx, "INSERT INTO t VALUES (100); SELECT n FROM t ORDER BY n; SELECT 'dropped'")
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for rows.Next() {
		var n int
		rows.Scan(&n)
		got = append(got, n)
	}
	if err := rows.Err(); err != nil || len(got) != 6 || got[0] != 1 || got[5] != 100 {
		t.Fatalf("got %v, %v", got, err)
	}
}

func TestTransactions(t *testing.T) {
	db := openDB(t)
	c := oneConn(t, db)
	ctx := context.Background()
	if _, err := c.ExecContext(ctx, "CREATE TEMP TABLE acct (id int PRIMARY KEY, v int)"); err != nil {
		t.Fatal(err)
	}
	count := func() (n int) {
		t.Helper()
		if err := c.QueryRowContext(ctx, "SELECT count(*) FROM acct").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	tx, _ := c.BeginTx(ctx, nil)
	tx.Exec("INSERT INTO acct VALUES (1, 10)")
	if err := tx.Commit(); err != nil || count() != 1 {
		t.Fatalf("commit: %v, %d rows", err, count())
	}

	tx, _ = c.BeginTx(ctx, nil)
	tx.Exec("INSERT INTO acct VALUES (2, 20)")
	if err := tx.Rollback(); err != nil || count() != 1 {
		t.Fatalf("rollback: %v, %d rows", err, count())
	}

	// A failed statement aborts the transaction; the server answers COMMIT with
	// ROLLBACK, and the driver must not report that as success.
	tx, _ = c.BeginTx(ctx, nil)
	tx.Exec("INSERT INTO acct VALUES (3, 30)")
	if _, err := tx.Exec("INSERT INTO acct VALUES (1, 0)"); err == nil {
		t.Fatal("duplicate key: no error")
	}
	if err := tx.Commit(); !errors.Is(err, ErrCommitRolledBack) || count() != 1 {
		t.Fatalf("commit of a failed transaction: %v, %d rows", err, count())
	}

	tx, err := c.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelSerializable, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	var level, ro string
	tx.QueryRow("SELECT current_setting('transaction_isolation'), current_setting('transaction_read_only')").Scan(&level, &ro)
	if level != "serializable" || ro != "on" {
		t.Fatalf("isolation %q, read only %q", level, ro)
	}
	_, err = tx.Exec("CREATE TABLE pgteach_ro (n int)") // (temporary tables stay writable)
	var pgErr *Error
	if !errors.As(err, &pgErr) || pgErr.Code != ReadOnlyTransaction {
		t.Fatalf("write in a read-only transaction: %v", err)
	}
	tx.Rollback()
	if _, err := c.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelSnapshot}); err == nil {
		t.Fatal("snapshot isolation: no error")
	}
}

// Server errors carry their SQLSTATE, and leave the connection usable.
func TestSQLSTATE(t *testing.T) {
	db := openDB(t)
	db.SetMaxOpenConns(1)
	pid := backendPID(t, db)
	db.Exec("DROP TABLE IF EXISTS pgteach_uniq")
	if _, err := db.Exec("CREATE TABLE pgteach_uniq (k text CONSTRAINT pgteach_uniq_k UNIQUE)"); err != nil {
		t.Fatal(err)
	}
	defer db.Exec("DROP TABLE pgteach_uniq")
	db.Exec("INSERT INTO pgteach_uniq VALUES ('a')")
	for _, c := range []struct{ query, code string }{
		{"INSERT INTO pgteach_uniq VALUES ('a')", UniqueViolation},
		{"SELEC 1", SyntaxError},
		{"SELECT 1/0", "22012"},
		{"SELECT * FROM no_such_table", "42P01"},
	} {
		_, err := db.Exec(c.query)
		var pgErr *Error
		if !errors.As(err, &pgErr) || pgErr.Code != c.code || pgErr.Severity != "ERROR" || pgErr.Message == "" {
			t.Errorf("%s: got %v, want SQLSTATE %s", c.query, err, c.code)
			continue
		}
		if c.code == UniqueViolation && (pgErr.Constraint != "pgteach_uniq_k" || !strings.Contains(pgErr.Detail, "(k)=(a)")) {
			t.Errorf("unique violation: constraint %q, detail %q", pgErr.Constraint, pgErr.Detail)
		}
	}
	// An error in the middle of a result set ends the rows with that error.
	rows, err := db.Query("SELECT 10 / (3 - g) FROM generate_series(1, 5) g")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		n++
	}
	var pgErr *Error
	if !errors.As(rows.Err(), &pgErr) || pgErr.Code != "22012" {
		t.Fatalf("after %d rows: %v", n, rows.Err())
	}
	if backendPID(t, db) != pid {
		t.Fatal("a server error cost the connection")
	}
}

// More sessions than max_connections: the one too many is refused with 53300.
func TestTooManyClients(t *testing.T) {
	db := openDB(t)
	var max int
	if err := db.QueryRow("SHOW max_connections").Scan(&max); err != nil {
		t.Fatal(err)
	}
	if max > 50 {
		t.Skipf("max_connections=%d; the test server of tests/test_go_clients.py has 20", max)
	}
	ctx := context.Background()
	var conns []*sql.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for len(conns) <= max {
		c, err := db.Conn(ctx)
		if err != nil {
			var pgErr *Error
			if !errors.As(err, &pgErr) || pgErr.Code != TooManyConnections {
				t.Fatalf("connection %d: %v, want SQLSTATE 53300", len(conns)+1, err)
			}
			return
		}
		if err := c.PingContext(ctx); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	t.Fatalf("%d connections open with max_connections=%d", len(conns), max)
}

// A query whose context ends is stopped on the server, promptly, and its
// connection serves the next query.
func TestCancellation(t *testing.T) {
	db := openDB(t)
	db.SetMaxOpenConns(1)
	pid := backendPID(t, db)

	for _, how := range []string{"query", "exec", "rows", "tx"} {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		start := time.Now()
		var err error
		switch how {
		case "query":
			var x string
			err = db.QueryRowContext(ctx, "SELECT pg_sleep(5)::text").Scan(&x)
		case "exec":
			_, err = db.ExecContext(ctx, "SELECT pg_sleep(5)")
		case "rows": // the server is busy after a first batch of rows has arrived
			var rows *sql.Rows
			rows, err = db.QueryContext(ctx, "SELECT g, CASE WHEN g = 20000 THEN pg_sleep(5) END FROM generate_series(1, 20000) g")
			if err == nil {
				for rows.Next() {
				}
				err = rows.Err()
				rows.Close()
			}
		case "tx":
			var tx *sql.Tx
			if tx, err = db.BeginTx(ctx, nil); err == nil {
				_, err = tx.ExecContext(ctx, "SELECT pg_sleep(5)")
				tx.Rollback()
			}
		}
		cancel()
		took := time.Since(start)
		// A query's rows are returned at RowDescription, before pg_sleep runs;
		// from then on database/sql watches ctx itself and may close the Rows
		// with the bare ctx error before the driver's 57014 arrives (a race it
		// lost once on a loaded CI machine). Exec and tx wait inside the driver.
		var pgErr *Error
		rowsWatched := how == "rows" || how == "query"
		if !errors.Is(err, context.DeadlineExceeded) || !rowsWatched && (!errors.As(err, &pgErr) || pgErr.Code != QueryCanceled) {
			t.Errorf("%s: got %v, want the deadline wrapping SQLSTATE 57014", how, err)
		}
		if took > time.Second {
			t.Errorf("%s: returned after %v", how, took)
		}
		if got := backendPID(t, db); got != pid {
			t.Errorf("%s: the next query ran on backend %d, not %d: the connection was lost", how, got, pid)
		}
	}
	var running int
	err := db.QueryRow("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid() AND state <> 'idle'",
		"pgteach-"+t.Name()).Scan(&running)
	if err != nil || running != 0 {
		t.Fatalf("%d queries still running on the server (%v)", running, err)
	}

	// A context that has already ended sends nothing.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := db.ExecContext(ctx, "SELECT 1"); !errors.Is(err, context.Canceled) {
		t.Fatalf("ended context: %v", err)
	}
}

// database/sql's pool over this driver: SetMaxOpenConns bounds the sessions,
// callers beyond it wait, and a returned connection is reused, not reopened.
func TestPool(t *testing.T) {
	db := openDB(t)
	db.SetMaxOpenConns(2)
	pids := map[int64]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var pid int64
			if err := db.QueryRow("SELECT pg_backend_pid() FROM pg_sleep(0.2)").Scan(&pid); err != nil {
				t.Error(err)
			}
			mu.Lock()
			pids[pid] = true
			mu.Unlock()
		}()
	}
	wg.Wait()
	s := db.Stats()
	if len(pids) > 2 || s.MaxOpenConnections != 2 || s.OpenConnections > 2 || s.WaitCount == 0 || time.Since(start) < 600*time.Millisecond {
		t.Fatalf("6 queries of 0.2 s on at most 2 connections: backends %v, took %v, stats %+v", pids, time.Since(start), s)
	}
	for range 5 {
		if pid := backendPID(t, db); !pids[pid] {
			t.Fatalf("backend %d is new: an idle connection was not reused", pid)
		}
	}
	if s := db.Stats(); s.MaxIdleClosed != 0 || s.OpenConnections != 2 || s.Idle != 2 {
		t.Fatalf("stats %+v", s)
	}
}
