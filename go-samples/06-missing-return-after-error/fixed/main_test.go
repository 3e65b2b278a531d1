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

// One case per error path: the right status, the error message and nothing else in the
// body, no order stored, and nothing in the server log (no panic, no second WriteHeader).
func TestErrorPaths(t *testing.T) {
	cases := []struct {
		name, method, path, body string
		status                   int
		message                  string
	}{
		{"bad JSON", "POST", "/orders", `{"customer":"c1","sku":`, 400, "invalid JSON: unexpected EOF"},
		{"wrong type", "POST", "/orders", `{"customer":"c1","sku":"tea-500g","quantity":"two"}`, 400, "invalid JSON: json: cannot unmarshal string into Go struct field orderRequest.quantity of type int"},
		{"missing quantity", "POST", "/orders", `{"customer":"c1","sku":"tea-500g"}`, 400, "quantity must be at least 1"},
		{"unknown sku", "POST", "/orders", `{"customer":"c1","sku":"nope","quantity":1}`, 422, `unknown sku "nope"`},
		{"unknown order", "GET", "/orders/99/receipt", "", 404, `no order "99"`},
		{"unknown currency", "GET", "/orders/1/receipt?currency=GBP", "", 400, `unsupported currency "GBP"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, logs := newTestServer(t)
			before := ordersCreated.Value()
			o := do(t, srv, tc.method, tc.path, tc.body)
			if o.status != tc.status || o.body != tc.message+"\n" {
				t.Errorf("got %d %q, want %d %q", o.status, o.body, tc.status, tc.message+"\n")
			}
			if after := ordersCreated.Value(); after != before {
				t.Errorf("orders_created went from %d to %d: a rejected request stored an order", before, after)
			}
			if l := logs.String(); l != "" {
				t.Errorf("server log should be empty, got:\n%s", l)
			}
		})
	}
}

func TestValidRequests(t *testing.T) {
	srv, logs := newTestServer(t)
	o := do(t, srv, "POST", "/orders", `{"customer":"c2","sku":"mug-blue","quantity":3}`)
	want := `{"id":"2","customer":"c2","sku":"mug-blue","name":"Blue mug","quantity":3,"total_cents":2700}` + "\n"
	if o.status != 201 || o.body != want {
		t.Errorf("create: got %d %q, want 201 %q", o.status, o.body, want)
	}
	o = do(t, srv, "GET", "/orders/1/receipt?currency=USD", "")
	if o.status != 200 || !strings.Contains(o.body, "Total: 27.00 USD") {
		t.Errorf("receipt: got %d %q, want 200 with the total in USD", o.status, o.body)
	}
	if l := logs.String(); l != "" {
		t.Errorf("server log should be empty, got:\n%s", l)
	}
}
