package main

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// lockedBuffer collects the server's error log (written from connection goroutines).
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newTestServer serves the program's routes on a loopback port, with one valid order
// stored, and returns the server's log.
func newTestServer(t *testing.T) (*httptest.Server, *lockedBuffer) {
	var logs lockedBuffer
	srv := httptest.NewUnstartedServer(routes(&store{orders: map[string]*order{
		"1": {ID: "1", Customer: "c1", SKU: "tea-500g", Name: "Green tea, 500 g", Quantity: 2, TotalCents: 2500},
	}}))
	srv.Config.ErrorLog = log.New(&logs, "", 0)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &logs
}

type outcome struct {
	status int    // 0: no response (connection dropped)
	body   string // response body
}

func do(t *testing.T, srv *httptest.Server, method, path, body string) outcome {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return outcome{}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return outcome{resp.StatusCode, string(b)}
}

// Each invalid request shows one of the failure modes of a missing return.
func TestMissingReturnFailureModes(t *testing.T) {
	srv, logs := newTestServer(t)

	if o := do(t, srv, "POST", "/orders", `{"customer":"c1","sku":"tea-500g","quantity":2}`); o.status != 201 {
		t.Errorf("valid order: got %d, want 201", o.status)
	}

	// Bad JSON and unknown SKU: the handler goes on with a nil product and panics;
	// the client gets no response at all.
	for _, body := range []string{`{"customer":"c1","sku":`, `{"customer":"c1","sku":"nope","quantity":1}`} {
		if o := do(t, srv, "POST", "/orders", body); o.status != 0 {
			t.Errorf("%s: got %d %q, want a dropped connection", body, o.status, o.body)
		}
	}

	// Missing quantity: a 400, yet the order is stored and its JSON follows the error.
	before := ordersCreated.Value()
	o := do(t, srv, "POST", "/orders", `{"customer":"c1","sku":"tea-500g"}`)
	if o.status != 400 || !strings.Contains(o.body, `"quantity":0`) {
		t.Errorf("missing quantity: got %d %q, want a 400 with the phantom order appended", o.status, o.body)
	}
	if ordersCreated.Value() != before+1 {
		t.Errorf("missing quantity: orders_created went from %d to %d, want a phantom order", before, ordersCreated.Value())
	}

	// Unknown currency: the template fails after the 200 went out with half a receipt.
	o = do(t, srv, "GET", "/orders/1/receipt?currency=GBP", "")
	if o.status != 200 || !strings.Contains(o.body, "Receipt for order 1") || !strings.Contains(o.body, "unsupported currency") {
		t.Errorf("unknown currency: got %d %q, want a 200 with half a receipt and the error", o.status, o.body)
	}

	// Unknown order: a 404 followed by the template's own error.
	o = do(t, srv, "GET", "/orders/99/receipt", "")
	if o.status != 404 || !strings.Contains(o.body, "nil pointer evaluating") {
		t.Errorf("unknown order: got %d %q, want a 404 with a template error appended", o.status, o.body)
	}

	log := logs.String()
	if n := strings.Count(log, "http: panic serving"); n != 2 {
		t.Errorf("%d panics in the server log, want 2:\n%s", n, log)
	}
	if n := strings.Count(log, "http: superfluous response.WriteHeader call"); n < 4 {
		t.Errorf("%d superfluous WriteHeader lines in the server log, want at least 4:\n%s", n, log)
	}
}
