package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gopitfalls/samples/internal/lessontest"
)

// The SIGTERM test runs this test binary again as the server (see
// lessontest.StartServer).
func TestMain(m *testing.M) { lessontest.RunMainOrTests(m, main) }

// fulfilment is a test upstream that takes delay per webhook and records the
// traceparent header of each one it answered.
type fulfilment struct {
	delay time.Duration
	mu    sync.Mutex
	seen  []string
}

func (f *fulfilment) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	time.Sleep(f.delay)
	f.mu.Lock()
	f.seen = append(f.seen, r.Header.Get("Traceparent"))
	f.mu.Unlock()
}

func (f *fulfilment) answered() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.seen...)
}

const callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"

func postOrder(t *testing.T, url string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/orders", strings.NewReader(`{"item": "book", "qty": 1}`))
	req.Header.Set("Traceparent", "00-"+callerTrace+"-00f067aa0ba902b7-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Every order answered 202 reaches the fulfilment service after its request is
// over, carrying the request's trace id (WithoutCancel kept the values).
func TestEveryAcceptedOrderIsDeliveredWithItsTraceID(t *testing.T) {
	up := &fulfilment{delay: 20 * time.Millisecond}
	upstream := httptest.NewServer(up)
	defer upstream.Close()
	a := newApp(upstream.URL+"/hooks/order", 2, 16, 2*time.Second)
	srv := httptest.NewServer(a.handler())
	for i := range 10 {
		if code := postOrder(t, srv.URL); code != http.StatusAccepted {
			t.Fatalf("order %d: status %d, want 202", i, code)
		}
	}
	srv.Close() // every handler has returned: their requests' contexts are cancelled
	if err := a.drain(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	seen := up.answered()
	if len(seen) != 10 {
		t.Fatalf("the fulfilment service answered %d webhooks, want all 10", len(seen))
	}
	for _, tp := range seen {
		if !strings.Contains(tp, callerTrace) {
			t.Errorf("webhook traceparent %q lacks the request's trace id", tp)
		}
	}
}

// With the one worker busy and the queue full, an order is refused with 503 and
// Retry-After, at once; the orders accepted before it are all delivered.
func TestAFullQueueAnswers503(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	got := 0
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got++
		mu.Unlock()
		<-release
	}))
	defer upstream.Close()
	a := newApp(upstream.URL+"/hooks/order", 1, 1, 5*time.Second)
	srv := httptest.NewServer(a.handler())
	defer srv.Close()
	postOrder(t, srv.URL) // the worker takes it and waits on the upstream
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		n := got
		mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the worker never called the upstream")
		}
	}
	if code := postOrder(t, srv.URL); code != http.StatusAccepted { // fills the queue
		t.Fatalf("second order: %d, want 202", code)
	}
	start := time.Now()
	if code := postOrder(t, srv.URL); code != http.StatusServiceUnavailable {
		t.Fatalf("third order with the queue full: %d, want 503", code)
	}
	if waited := time.Since(start); waited > time.Second {
		t.Errorf("the 503 took %v: the handler waited for room", waited)
	}
	close(release)
	srv.Close()
	if err := a.drain(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if mu.Lock(); got != 2 {
		t.Errorf("upstream got %d webhooks, want the 2 accepted", got)
	}
	mu.Unlock()
}

// SIGTERM with webhooks still queued: the process delivers every accepted order,
// logs the drain, and exits 0.
func TestSigtermDrainsTheQueue(t *testing.T) {
	up := &fulfilment{delay: 100 * time.Millisecond}
	upstream := httptest.NewServer(up)
	defer upstream.Close()
	s := lessontest.StartServer(t, "UPSTREAM_URL="+upstream.URL, "WORKERS=1", "QUEUE=8")
	for i := range 5 {
		if code := postOrder(t, s.Base); code != http.StatusAccepted {
			t.Fatalf("order %d: status %d, want 202", i, code)
		}
	}
	s.Cmd.Process.Signal(syscall.SIGTERM)
	var out []string
	for l := range s.Lines {
		out = append(out, l)
	}
	if err := s.Cmd.Wait(); err != nil {
		t.Errorf("exit: %v, want status 0", err)
	}
	if n := len(up.answered()); n != 5 {
		t.Errorf("the fulfilment service answered %d webhooks, want all 5 accepted", n)
	}
	if log := strings.Join(out, "\n"); !strings.Contains(log, "drain: complete, accepted=5 delivered=5") {
		t.Errorf("no drain line in:\n%s", log)
	}
}
