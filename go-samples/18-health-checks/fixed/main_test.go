package main

import (
	"context"
	"database/sql"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"gopitfalls/samples/internal/lessontest"
)

// unreachable is a database URL nothing listens on (port 1 is refused at once).
const unreachable = "postgres://lesson@127.0.0.1:1/lesson?sslmode=disable"

// client opens a connection per request: a spare kept-alive connection that never
// carried a request would hold Shutdown for 5 s (net/http waits that long before it
// counts a new connection as idle).
var client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

func status(t *testing.T, url string) int {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// startChecks runs the database check in the background until the test ends and
// waits for its first result.
func startChecks(t *testing.T, s *service, wantOK bool) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.checkDB(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	deadline := time.Now().Add(3 * time.Second)
	for s.dbOK.Load() != wantOK && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
}

// With the database gone the instance is alive (no restart would help) and not ready
// (the balancer should send it nothing).
func TestAliveButNotReadyWithTheDatabaseGone(t *testing.T) {
	db, err := sql.Open("pgteach", unreachable)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := &service{db: db}
	startChecks(t, s, false)
	srv := httptest.NewServer(s.routes())
	defer srv.Close()
	if got := status(t, srv.URL+"/livez"); got != 200 {
		t.Errorf("/livez with the database gone: %d, want 200", got)
	}
	if got := status(t, srv.URL+"/readyz"); got != 503 {
		t.Errorf("/readyz with the database gone: %d, want 503", got)
	}
}

// With the database there, the instance is ready and serves.
func TestReadyWithTheDatabase(t *testing.T) {
	seed, err := os.ReadFile("../seed.sql")
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("pgteach", lessontest.PostgresSchema(t, "lesson18", string(seed)))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := &service{db: db}
	startChecks(t, s, true)
	srv := httptest.NewServer(s.routes())
	defer srv.Close()
	for _, path := range []string{"/readyz", "/livez", "/api/item?sku=sku-001"} {
		if got := status(t, srv.URL+path); got != 200 {
			t.Errorf("GET %s with the database there: %d, want 200", path, got)
		}
	}
}

// Step 3 of the fix: when the process is told to stop, /readyz turns 503 at once while
// the server keeps serving for the drain delay, so the balancer takes the instance out
// before its listener closes; then Shutdown ends serving cleanly.
func TestStoppingTurnsReadinessOffBeforeShutdown(t *testing.T) {
	s := &service{}
	s.dbOK.Store(true) // the database check is not what this test is about
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	ctx, sigterm := context.WithCancel(context.Background())
	served := make(chan error, 1)
	const drain = 400 * time.Millisecond
	go func() { served <- s.serveUntil(ctx, ln, &http.Server{Handler: s.routes()}, drain) }()
	if got := status(t, base+"/readyz"); got != 200 {
		t.Fatalf("/readyz before the signal: %d, want 200", got)
	}
	signalled := time.Now()
	sigterm()
	for !s.stopping.Load() {
		time.Sleep(time.Millisecond)
	}
	if got := status(t, base+"/readyz"); got != 503 {
		t.Errorf("/readyz after the signal: %d, want 503", got)
	}
	if got := status(t, base+"/livez"); got != 200 && time.Since(signalled) < drain {
		t.Errorf("/livez during the drain: %d, want 200 (still serving)", got)
	}
	if err := <-served; err != nil {
		t.Fatalf("serveUntil returned %v after a clean shutdown", err)
	}
	if waited := time.Since(signalled); waited < drain {
		t.Errorf("the server stopped %v after the signal, before the %v drain", waited, drain)
	}
	if _, err := client.Get(base + "/livez"); err == nil {
		t.Error("the server still answers after Shutdown")
	}
}
