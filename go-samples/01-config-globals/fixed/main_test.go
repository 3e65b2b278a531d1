package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testDB    = "postgres://catalog@db.internal:5432/catalog"
	testToken = "test-admin-token"
)

// env is a fake environment for Load.
type env map[string]string

func (e env) get(key string) string { return e[key] }

func mustLoad(t *testing.T, e env) Config {
	t.Helper()
	cfg, err := Load(e.get)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func getItems(t *testing.T, h http.Handler, query string) (int, page) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/items?q="+query, nil))
	var p page
	if rec.Code == 200 {
		if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
	}
	return rec.Code, p
}

// reload POSTs settings to /admin/reload with the given bearer token ("" for none).
func reload(h http.Handler, body, token string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", "/admin/reload", strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestLoad(t *testing.T) {
	cfg := mustLoad(t, env{"DATABASE_URL": testDB})
	if cfg != (Config{Addr: "127.0.0.1:8080", DatabaseURL: testDB, RequestTimeout: 2 * time.Second, MaxItems: 50}) {
		t.Errorf("defaults: %+v", cfg)
	}
	cfg = mustLoad(t, env{"ADDR": "127.0.0.1:9000", "DATABASE_URL": testDB, "REQUEST_TIMEOUT": "750ms", "MAX_ITEMS": "5"})
	if cfg != (Config{Addr: "127.0.0.1:9000", DatabaseURL: testDB, RequestTimeout: 750 * time.Millisecond, MaxItems: 5}) {
		t.Errorf("explicit: %+v", cfg)
	}
	bad := []struct {
		env  env
		want string
	}{
		{env{}, "DATABASE_URL is required"},
		{env{"DATABASE_URL": "db.internal:5432"}, "DATABASE_URL must look like"},
		{env{"DATABASE_URL": "postgres:///catalog"}, "DATABASE_URL must look like"},
		{env{"DATABASE_URL": testDB, "ADDR": "127.0.0.1:abc"}, `port "abc" is not a number`},
		{env{"DATABASE_URL": testDB, "ADDR": "8080"}, "is not host:port"},
		{env{"DATABASE_URL": testDB, "REQUEST_TIMEOUT": "abc"}, `REQUEST_TIMEOUT "abc"`},
		{env{"DATABASE_URL": testDB, "REQUEST_TIMEOUT": "2"}, `REQUEST_TIMEOUT "2"`},
		{env{"DATABASE_URL": testDB, "REQUEST_TIMEOUT": "-1s"}, `REQUEST_TIMEOUT "-1s"`},
		{env{"DATABASE_URL": testDB, "MAX_ITEMS": "abc"}, `MAX_ITEMS "abc"`},
		{env{"DATABASE_URL": testDB, "MAX_ITEMS": "0"}, `MAX_ITEMS "0"`},
		{env{"DATABASE_URL": testDB, "MAX_ITEMS": "5000"}, `MAX_ITEMS "5000"`},
	}
	for _, b := range bad {
		_, err := Load(b.env.get)
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%v: error %v, want one containing %q", b.env, err, b.want)
		}
	}
	// Every problem is reported at once, on one line.
	_, err := Load(env{"ADDR": "127.0.0.1:abc", "REQUEST_TIMEOUT": "abc", "MAX_ITEMS": "abc"}.get)
	if err == nil || strings.Count(err.Error(), "; ") != 3 || strings.Contains(err.Error(), "\n") {
		t.Errorf("want four problems on one line, got %v", err)
	}
}

// The same three tests as config_lesson_test.go in the broken program: each builds its
// own server from its own Config, so they pass in parallel, with -race, any -count.
func TestItemsPageOf50(t *testing.T) {
	t.Parallel()
	h := newServer(mustLoad(t, env{"DATABASE_URL": testDB, "MAX_ITEMS": "50"})).routes()
	for range 20 {
		if status, p := getItems(t, h, ""); status != 200 || len(p.Items) != 50 {
			t.Fatalf("got %d with %d items, want 200 with 50", status, len(p.Items))
		}
	}
}

func TestItemsPageOf5(t *testing.T) {
	t.Parallel()
	h := newServer(mustLoad(t, env{"DATABASE_URL": testDB, "MAX_ITEMS": "5"})).routes()
	for range 20 {
		if status, p := getItems(t, h, ""); status != 200 || len(p.Items) != 5 {
			t.Fatalf("got %d with %d items, want 200 with 5", status, len(p.Items))
		}
	}
}

func TestItemsWithoutDatabase(t *testing.T) {
	t.Parallel()
	// Load refuses an empty DATABASE_URL, so build the Config by hand to test the
	// handler's own error path.
	h := newServer(Config{RequestTimeout: time.Second, MaxItems: 50}).routes()
	for range 20 {
		if status, _ := getItems(t, h, ""); status != 500 {
			t.Fatalf("got %d, want 500", status)
		}
	}
}

// Reloads while requests are served: every response is consistent with one
// configuration, and -race finds nothing.
func TestReloadWhileServing(t *testing.T) {
	t.Setenv("DATABASE_URL", testDB) // the reload reads the environment under the pushed lines
	t.Setenv("ADMIN_TOKEN", testToken)
	h := newServer(mustLoad(t, env{"DATABASE_URL": testDB, "MAX_ITEMS": "5", "ADMIN_TOKEN": testToken})).routes()
	done := make(chan struct{})
	reloader := make(chan struct{})
	go func() {
		defer close(reloader)
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			rec := reload(h, []string{"MAX_ITEMS=5", "MAX_ITEMS=10"}[i%2], testToken)
			if rec.Code != 200 {
				t.Errorf("reload: %d %s", rec.Code, rec.Body)
				return
			}
		}
	}()
	var readers sync.WaitGroup
	for range 4 {
		readers.Go(func() {
			for range 100 {
				if status, p := getItems(t, h, ""); status != 200 || len(p.Items) != p.Limit {
					t.Errorf("got %d with %d items and limit %d", status, len(p.Items), p.Limit)
				}
			}
		})
	}
	readers.Wait()
	close(done)
	<-reloader
}

// A reload with a bad setting is refused and the running configuration stays.
func TestReloadRejectsBadSettings(t *testing.T) {
	t.Setenv("DATABASE_URL", testDB)
	t.Setenv("ADMIN_TOKEN", testToken)
	h := newServer(mustLoad(t, env{"DATABASE_URL": testDB, "MAX_ITEMS": "5", "ADMIN_TOKEN": testToken})).routes()
	rec := reload(h, "MAX_ITEMS=abc", testToken)
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), `MAX_ITEMS "abc"`) {
		t.Fatalf("reload: %d %q, want 400 naming MAX_ITEMS", rec.Code, rec.Body)
	}
	if status, p := getItems(t, h, ""); status != 200 || len(p.Items) != 5 {
		t.Fatalf("after a refused reload: %d with %d items, want 200 with 5", status, len(p.Items))
	}
}

// A reload without the admin token, or with a wrong one, is refused and changes
// nothing; with no ADMIN_TOKEN configured, no reload is accepted at all.
func TestReloadNeedsTheAdminToken(t *testing.T) {
	t.Setenv("DATABASE_URL", testDB)
	t.Setenv("ADMIN_TOKEN", testToken)
	h := newServer(mustLoad(t, env{"DATABASE_URL": testDB, "MAX_ITEMS": "5", "ADMIN_TOKEN": testToken})).routes()
	for _, token := range []string{"", "wrong-token", testToken + "x"} {
		if rec := reload(h, "MAX_ITEMS=7", token); rec.Code != 401 || rec.Header().Get("WWW-Authenticate") != "Bearer" {
			t.Errorf("token %q: %d %q, want 401 with WWW-Authenticate: Bearer", token, rec.Code, rec.Body)
		}
	}
	if status, p := getItems(t, h, ""); status != 200 || len(p.Items) != 5 {
		t.Fatalf("after refused reloads: %d with %d items, want 200 with 5", status, len(p.Items))
	}
	if rec := reload(h, "MAX_ITEMS=7", testToken); rec.Code != 200 {
		t.Fatalf("with the token: %d %q", rec.Code, rec.Body)
	}
	off := newServer(mustLoad(t, env{"DATABASE_URL": testDB})).routes()
	if rec := reload(off, "MAX_ITEMS=7", ""); rec.Code != 401 {
		t.Errorf("no ADMIN_TOKEN configured: %d, want 401", rec.Code)
	}
}

// /config shows the database URL without its password, and never the admin token.
func TestConfigHidesSecrets(t *testing.T) {
	const dsn = "postgres://catalog:pw-s3cret@db.internal:5432/catalog?sslmode=require"
	h := newServer(mustLoad(t, env{"DATABASE_URL": dsn, "ADMIN_TOKEN": testToken})).routes()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/config", nil))
	var got map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	body := rec.Body.String()
	if strings.Contains(body, "pw-s3cret") || strings.Contains(body, testToken) {
		t.Errorf("/config shows a secret: %s", body)
	}
	if want := "postgres://catalog:xxxxx@db.internal:5432/catalog?sslmode=require"; got["database_url"] != want {
		t.Errorf("database_url %v, want %s", got["database_url"], want)
	}
}

// With a bad configuration the program exits with code 2 and one line on stderr. The
// test runs main in a child process (this test binary, asked by an environment variable).
func TestBadConfigExitsWith2(t *testing.T) {
	if os.Getenv("LESSON01_RUN_MAIN") == "1" {
		main()
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestBadConfigExitsWith2$")
	cmd.Env = append(os.Environ(), "LESSON01_RUN_MAIN=1", "ADDR=127.0.0.1:0", "DATABASE_URL=", "MAX_ITEMS=abc")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != 2 {
		t.Fatalf("exit code %d, want 2; stderr: %s", code, stderr.String())
	}
	want := "catalog: invalid configuration: DATABASE_URL is required; MAX_ITEMS \"abc\" is not a number from 1 to 1000\n"
	if stderr.String() != want {
		t.Fatalf("stderr %q, want %q", stderr.String(), want)
	}
}
