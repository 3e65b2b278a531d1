// An order service: POST /orders takes {"customer","sku","quantity"} as JSON, prices it
// from the catalog and stores the order; GET /orders/{id}/receipt renders a receipt in
// the currency asked for (?currency=EUR|USD|CHF).
//
// The fix, in three steps:
//  1. every error branch ends the handler: it returns, so nothing runs on a zero value
//     or a nil pointer and no order is stored for a rejected request;
//  2. handlers return an error instead of writing it, and one adapter (handlerFunc)
//     turns the error into the response, once. A handler writes only on success, after
//     the whole body is ready (the receipt is rendered into a buffer first), so a late
//     failure can still become a clean error response;
//  3. a test per error path (main_test.go) checks status, body and side effects.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"expvar"
	"fmt"
	"log"
	"net/http"
	"strconv"
	"sync"
	"text/template"

	"gopitfalls/samples/internal/serve"
)

var ordersCreated = expvar.NewInt("orders_created")

type product struct {
	SKU   string
	Name  string
	Cents int64 // price in euro cents
}

var catalog = map[string]*product{
	"tea-500g":  {SKU: "tea-500g", Name: "Green tea, 500 g", Cents: 1250},
	"mug-blue":  {SKU: "mug-blue", Name: "Blue mug", Cents: 900},
	"kettle-1l": {SKU: "kettle-1l", Name: "Kettle, 1 l", Cents: 3490},
}

var errUnknownSKU = errors.New("unknown sku")

func lookup(sku string) (*product, error) {
	if p, ok := catalog[sku]; ok {
		return p, nil
	}
	return nil, fmt.Errorf("%w %q", errUnknownSKU, sku)
}

type order struct {
	ID         string `json:"id"`
	Customer   string `json:"customer"`
	SKU        string `json:"sku"`
	Name       string `json:"name"`
	Quantity   int    `json:"quantity"`
	TotalCents int64  `json:"total_cents"`
}

type store struct {
	mu     sync.Mutex
	orders map[string]*order
}

func (s *store) add(o *order) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o.ID = strconv.Itoa(len(s.orders) + 1)
	s.orders[o.ID] = o
	ordersCreated.Add(1)
}

func (s *store) get(id string) (*order, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o, ok := s.orders[id]; ok {
		return o, nil
	}
	return nil, fmt.Errorf("no order %q", id)
}

// httpError is an error that carries the status and message the client should get.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

// handlerFunc is a handler that reports failure by returning an error. ServeHTTP is
// the one place that writes error responses. The contract: a handler either writes a
// complete success response and returns nil, or writes nothing and returns an error,
// so the status and body are written exactly once.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (h handlerFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	err := h(w, r)
	if err == nil {
		return
	}
	var he *httpError
	if !errors.As(err, &he) {
		log.Printf("%s %s: %v", r.Method, r.URL.Path, err)
		he = &httpError{http.StatusInternalServerError, "internal error"}
	}
	http.Error(w, he.msg, he.status)
}

type orderRequest struct {
	Customer string `json:"customer"`
	SKU      string `json:"sku"`
	Quantity int    `json:"quantity"`
}

func (s *store) createOrder(w http.ResponseWriter, r *http.Request) error {
	var req orderRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		return &httpError{http.StatusBadRequest, "invalid JSON: " + err.Error()}
	}
	if req.Quantity < 1 {
		return &httpError{http.StatusBadRequest, "quantity must be at least 1"}
	}
	p, err := lookup(req.SKU)
	if err != nil {
		return &httpError{http.StatusUnprocessableEntity, err.Error()}
	}
	o := &order{Customer: req.Customer, SKU: p.SKU, Name: p.Name, Quantity: req.Quantity,
		TotalCents: p.Cents * int64(req.Quantity)}
	s.add(o)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(o)
	return nil
}

// rates converts euro cents into other currencies (fixed rates, for the example).
var rates = map[string]float64{"EUR": 1, "USD": 1.08, "CHF": 0.94}

func money(cents int64, currency string) (string, error) {
	rate, ok := rates[currency]
	if !ok {
		return "", fmt.Errorf("unsupported currency %q", currency)
	}
	return fmt.Sprintf("%.2f %s", float64(cents)*rate/100, currency), nil
}

var receiptTmpl = template.Must(template.New("receipt").Funcs(template.FuncMap{"money": money}).Parse(
	`Receipt for order {{.Order.ID}}
Customer: {{.Order.Customer}}
{{.Order.Quantity}} x {{.Order.Name}}
Total: {{money .Order.TotalCents .Currency}}
`))

func (s *store) receipt(w http.ResponseWriter, r *http.Request) error {
	o, err := s.get(r.PathValue("id"))
	if err != nil {
		return &httpError{http.StatusNotFound, err.Error()}
	}
	currency := r.URL.Query().Get("currency")
	if currency == "" {
		currency = "EUR"
	}
	if _, ok := rates[currency]; !ok {
		return &httpError{http.StatusBadRequest, fmt.Sprintf("unsupported currency %q", currency)}
	}
	data := struct {
		Order    *order
		Currency string
	}{o, currency}
	var buf bytes.Buffer // render first: a template error must not leave half a receipt behind a 200
	if err := receiptTmpl.Execute(&buf, data); err != nil {
		return fmt.Errorf("render receipt: %w", err)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	buf.WriteTo(w)
	return nil
}

func routes(s *store) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("POST /orders", handlerFunc(s.createOrder))
	mux.Handle("GET /orders/{id}/receipt", handlerFunc(s.receipt))
	return mux
}

func main() {
	// Server timeouts and a graceful shutdown, as lessons 20 and 21 teach.
	if err := serve.Run(serve.Addr(), routes(&store{orders: map[string]*order{}})); err != nil {
		log.Fatal(err)
	}
}
