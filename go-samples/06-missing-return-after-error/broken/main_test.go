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

// Each invalid request shows one of the failure modes of a missing return.
func TestMissingReturnFailureModes(t *testing.T) {
	srv, logs := newTestServer(t)

	if o := lessontest.Do(t, srv, "POST", "/orders", `{"customer":"c1","sku":"tea-500g","quantity":2}`); o.Status != 201 {
		t.Errorf("valid order: got %d, want 201", o.Status)
	}

	// Bad JSON and unknown SKU: the handler goes on with a nil product and panics;
	// the client gets no response at all.
	for _, body := range []string{`{"customer":"c1","sku":`, `{"customer":"c1","sku":"nope","quantity":1}`} {
		if o := lessontest.Do(t, srv, "POST", "/orders", body); o.Status != 0 {
			t.Errorf("%s: got %d %q, want a dropped connection", body, o.Status, o.Body)
		}
	}

	// Missing quantity: a 400, yet the order is stored and its JSON follows the error.
	before := ordersCreated.Value()
	o := lessontest.Do(t, srv, "POST", "/orders", `{"customer":"c1","sku":"tea-500g"}`)
	if o.Status != 400 || !strings.Contains(o.Body, `"quantity":0`) {
		t.Errorf("missing quantity: got %d %q, want a 400 with the phantom order appended", o.Status, o.Body)
	}
	if ordersCreated.Value() != before+1 {
		t.Errorf("missing quantity: orders_created went from %d to %d, want a phantom order", before, ordersCreated.Value())
	}

	// Unknown currency: the template fails after the 200 went out with half a receipt.
	o = lessontest.Do(t, srv, "GET", "/orders/1/receipt?currency=GBP", "")
	if o.Status != 200 || !strings.Contains(o.Body, "Receipt for order 1") || !strings.Contains(o.Body, "unsupported currency") {
		t.Errorf("unknown currency: got %d %q, want a 200 with half a receipt and the error", o.Status, o.Body)
	}

	// Unknown order: a 404 followed by the template's own error.
	o = lessontest.Do(t, srv, "GET", "/orders/99/receipt", "")
	if o.Status != 404 || !strings.Contains(o.Body, "nil pointer evaluating") {
		t.Errorf("unknown order: got %d %q, want a 404 with a template error appended", o.Status, o.Body)
	}

	log := logs.String()
	if n := strings.Count(log, "http: panic serving"); n != 2 {
		t.Errorf("%d panics in the server log, want 2:\n%s", n, log)
	}
	if n := strings.Count(log, "http: superfluous response.WriteHeader call"); n < 4 {
		t.Errorf("%d superfluous WriteHeader lines in the server log, want at least 4:\n%s", n, log)
	}
}
