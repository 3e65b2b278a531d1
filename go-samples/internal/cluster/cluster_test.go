package cluster

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// waitFor polls cond every 5 ms for at most 3 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 3 s for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// echo is a TCP server that writes back what it reads.
func echo(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	return ln.Addr().String()
}

// roundTrip sends "ping" on c and reports whether it came back.
func roundTrip(c net.Conn) bool {
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("ping")); err != nil {
		return false
	}
	buf := make([]byte, 4)
	_, err := io.ReadFull(c, buf)
	return err == nil && string(buf) == "ping"
}

func TestProxyCutClosesConnectionsUntilHealed(t *testing.T) {
	p, err := NewProxy(echo(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	before, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer before.Close()
	if !roundTrip(before) {
		t.Fatal("no echo through the proxy before the cut")
	}
	p.Cut()
	if roundTrip(before) {
		t.Fatal("a connection opened before the cut still works after it")
	}
	during, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer during.Close()
	if roundTrip(during) {
		t.Fatal("a new connection works while the proxy is cut")
	}
	p.Heal()
	after, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer after.Close()
	if !roundTrip(after) {
		t.Fatal("no echo through the proxy after the heal")
	}
}

// fake is an instance served by httptest: /work answers its name, /health answers
// 200 while healthy is true, 503 otherwise.
type fake struct {
	name     string
	srv      *httptest.Server
	healthy  atomic.Bool
	restarts atomic.Int64
}

func newFake(t *testing.T, name string) *fake {
	f := &fake{name: name}
	f.healthy.Store(true)
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" && !f.healthy.Load() {
			http.Error(w, "unhealthy", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, f.name)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fake) Name() string   { return f.name }
func (f *fake) Addr() string   { return strings.TrimPrefix(f.srv.URL, "http://") }
func (f *fake) Restart() error { f.restarts.Add(1); return nil }

var fastProbe = Probe{Path: "/health", Interval: 10 * time.Millisecond,
	Timeout: 500 * time.Millisecond, Threshold: 2}

// get asks the balancer once and returns the status and body.
func get(t *testing.T, h http.Handler) (int, string) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/work", nil))
	return rec.Code, strings.TrimSpace(rec.Body.String())
}

func TestBalancerRoutesAroundAnUnreadyInstance(t *testing.T) {
	a, b := newFake(t, "a"), newFake(t, "b")
	bal := NewBalancer(fastProbe, a, b)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { bal.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	seen := map[string]int{}
	for range 10 {
		_, body := get(t, bal)
		seen[body]++
	}
	if seen["a"] != 5 || seen["b"] != 5 {
		t.Fatalf("round robin over two ready instances gave %v, want 5 each", seen)
	}
	a.healthy.Store(false)
	waitFor(t, "the balancer to take a out", func() bool { return bal.ReadyCount() == 1 })
	for range 10 {
		if code, body := get(t, bal); code != 200 || body != "b" {
			t.Fatalf("with a unready the balancer answered %d %q, want 200 from b", code, body)
		}
	}
	b.healthy.Store(false)
	waitFor(t, "the balancer to take b out", func() bool { return bal.ReadyCount() == 0 })
	if code, _ := get(t, bal); code != http.StatusServiceUnavailable {
		t.Fatalf("with no instance ready the balancer answered %d, want 503", code)
	}
	a.healthy.Store(true)
	waitFor(t, "a back in rotation", func() bool { return bal.ReadyCount() == 1 })
	if got := bal.Requests.Get("a").String(); got != "5" {
		t.Fatalf("requests counted for a: %s, want 5", got)
	}
}

func TestSupervisorRestartsOnlyWhatFailsLiveness(t *testing.T) {
	ok, stuck := newFake(t, "ok"), newFake(t, "stuck")
	stuck.healthy.Store(false)
	sup := NewSupervisor(fastProbe)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { sup.Run(ctx, ok, stuck); close(done) }()
	waitFor(t, "two restarts of the stuck instance", func() bool { return stuck.restarts.Load() >= 2 })
	cancel()
	<-done
	if n := ok.restarts.Load(); n != 0 {
		t.Fatalf("the healthy instance was restarted %d times", n)
	}
	if got, want := sup.Restarts.Value(), stuck.restarts.Load(); got != want {
		t.Fatalf("Restarts counts %d, the instance saw %d", got, want)
	}
}
