// An order service: POST /orders takes {"customer","sku","quantity"} as JSON, prices it
// from the catalog and stores the order; GET /orders/{id}/receipt renders a receipt in
// the currency asked for (?currency=EUR|USD|CHF).
//
// The pitfall: every error branch writes an error response and then carries on, because
// http.Error does not stop the handler; only return does. What follows depends on the input:
//   - missing quantity: the client gets its 400, but the order is stored anyway (a
//     phantom order, counted in orders_created) and its JSON is appended to the error;
//   - bad JSON or an unknown SKU: the handler goes on with a nil product and panics;
//     net/http recovers the panic, logs it and drops the connection, so the client
//     gets no response at all (EOF), not the 400 or 422 that had been written;
//   - an unknown currency: the template fails half-way, after the 200 and part of the
//     receipt were written, and the error text ends up inside a 200 response.
//
// Each extra http.Error or WriteHeader after the first prints
// "http: superfluous response.WriteHeader call" on stderr.
package main

import (
	"encoding/json"
	"errors"
	"expvar"
	"fmt"
	"log"
	"net/http"
	"os"
	"strconv"
	"sync"
	"text/template"
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

type orderRequest struct {
	Customer string `json:"customer"`
	SKU      string `json:"sku"`
	Quantity int    `json:"quantity"`
}

func (s *store) createOrder(w http.ResponseWriter, r *http.Request) {
	var req orderRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, "invalid JSON: "+err.Error(), http.StatusBadRequest)
	}
	if req.Quantity < 1 {
		http.Error(w, "quantity must be at least 1", http.StatusBadRequest)
	}
	p, err := lookup(req.SKU)
	if err != nil {
		http.Error(w, err.Error(), http.StatusUnprocessableEntity)
	}
	o := &order{Customer: req.Customer, SKU: p.SKU, Name: p.Name, Quantity: req.Quantity,
		TotalCents: p.Cents * int64(req.Quantity)}
	s.add(o)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(o)
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

func (s *store) receipt(w http.ResponseWriter, r *http.Request) {
	o, err := s.get(r.PathValue("id"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
	}
	currency := r.URL.Query().Get("currency")
	if currency == "" {
		currency = "EUR"
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	data := struct {
		Order    *order
		Currency string
	}{o, currency}
	if err := receiptTmpl.Execute(w, data); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
	}
}

func routes(s *store) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /orders", s.createOrder)
	mux.HandleFunc("GET /orders/{id}/receipt", s.receipt)
	return mux
}

func main() {
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	log.Printf("listening on %s", addr)
	log.Fatal(http.ListenAndServe(addr, routes(&store{orders: map[string]*order{}})))
}
