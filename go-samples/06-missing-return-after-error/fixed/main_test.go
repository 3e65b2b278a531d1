package main

import (
	"net/http/httptest"
	"strings"
	"testing"

	"gopitfalls/samples/internal/lessontest"
)

// newTestServer serves the program's routes on a loopback port, with one valid order
// stored, and returns the server's log.
func newTestServer(t *testing.T) (*httptest.Server, *lessontest.SyncBuffer) {
	return lessontest.StartWithErrorLog(t, routes(&store{orders: map[string]*order{
		"1": {ID: "1", Customer: "c1", SKU: "tea-500g", Name: "Green tea, 500 g", Quantity: 2, TotalCents: 2500},
	}}))
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
			o := lessontest.Do(t, srv, tc.method, tc.path, tc.body)
			if o.Status != tc.status || o.Body != tc.message+"\n" {
				t.Errorf("got %d %q, want %d %q", o.Status, o.Body, tc.status, tc.message+"\n")
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
	o := lessontest.Do(t, srv, "POST", "/orders", `{"customer":"c2","sku":"mug-blue","quantity":3}`)
	want := `{"id":"2","customer":"c2","sku":"mug-blue","name":"Blue mug","quantity":3,"total_cents":2700}` + "\n"
	if o.Status != 201 || o.Body != want {
		t.Errorf("create: got %d %q, want 201 %q", o.Status, o.Body, want)
	}
	o = lessontest.Do(t, srv, "GET", "/orders/1/receipt?currency=USD", "")
	if o.Status != 200 || !strings.Contains(o.Body, "Total: 27.00 USD") {
		t.Errorf("receipt: got %d %q, want 200 with the total in USD", o.Status, o.Body)
	}
	if l := logs.String(); l != "" {
		t.Errorf("server log should be empty, got:\n%s", l)
	}
}
