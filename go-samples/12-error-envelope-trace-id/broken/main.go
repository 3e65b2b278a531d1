// Command broken is the lesson 12 orders API with error handling as it grows when
// nobody owns it: each handler invents its error body (plain text here, {"error"}
// there, {"msg","code"} elsewhere), nothing in the response identifies the request,
// and each layer logs the error it passes up, so one failure becomes two or three
// unconnected log lines with second-resolution timestamps. Under load, finding the
// lines that belong to the error a client reports means reading everything logged
// in that second.
package main

import (
	"encoding/json"
	"errors"
	"expvar"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"
)

var (
	requestsTotal = expvar.NewInt("requests_total")
	errorsTotal   = expvar.NewInt("errors_total") // responses with status >= 400
)

var (
	errNotFound   = errors.New("not found")
	errOutOfStock = errors.New("out of stock")
	errShardDown  = errors.New("storage shard unavailable")
)

// invalidError is a request the service refuses to process as given.
type invalidError struct{ Field, Reason string }

func (e *invalidError) Error() string { return e.Field + ": " + e.Reason }

type order struct {
	ID       int    `json:"id"`
	SKU      string `json:"sku"`
	Quantity int    `json:"quantity"`
}

// store is the data layer. Its answers are deterministic so the lab can pick the
// outcome: ids outside 1..1000 do not exist, multiples of 13 live on a shard that
// is down, and sku-rare has only 2 items in stock (stock is never decremented).
type store struct{}

func (store) order(id int) (order, error) {
	switch {
	case id > 1000 || id <= 0:
		err := fmt.Errorf("order %d: %w", id, errNotFound)
		log.Printf("repo: lookup failed: %v", err)
		return order{}, err
	case id%13 == 0:
		err := fmt.Errorf("read order %d from shard %d: %w", id, id%4, errShardDown)
		log.Printf("repo: query error: %v", err)
		return order{}, err
	}
	return order{ID: id, SKU: "sku-" + strconv.Itoa(id%7), Quantity: 1 + id%3}, nil
}

func (store) reserve(sku string, qty int) error {
	stock := 100
	if sku == "sku-rare" {
		stock = 2
	}
	if qty > stock {
		err := fmt.Errorf("reserve %d of %s (have %d): %w", qty, sku, stock, errOutOfStock)
		log.Printf("repo: reserve failed: %v", err)
		return err
	}
	return nil
}

// service is the business layer.
type service struct{ db store }

func (s service) getOrder(id int) (order, error) {
	o, err := s.db.order(id)
	if err != nil {
		log.Printf("service: getOrder(%d) failed: %v", id, err)
		return order{}, fmt.Errorf("get order: %w", err)
	}
	return o, nil
}

func (s service) placeOrder(in order) (order, error) {
	if in.SKU == "" || in.Quantity <= 0 {
		err := &invalidError{"sku/quantity", "sku is required and quantity must be positive"}
		log.Printf("service: rejected order: %v", err)
		return order{}, err
	}
	if err := s.db.reserve(in.SKU, in.Quantity); err != nil {
		log.Printf("service: placeOrder failed: %v", err)
		return order{}, fmt.Errorf("place order: %w", err)
	}
	in.ID = 1001
	return in, nil
}

// api is the HTTP layer.
type api struct{ svc service }

func (a api) getOrder(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil {
		log.Printf("handler: bad order id %q", r.PathValue("id"))
		http.Error(w, "bad id", http.StatusBadRequest)
		return
	}
	o, err := a.svc.getOrder(id)
	if err != nil {
		log.Printf("handler: error: %v", err)
		if errors.Is(err, errNotFound) {
			http.Error(w, "order not found", http.StatusNotFound)
			return
		}
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"msg": "temporary failure", "code": 5031})
		return
	}
	writeJSON(w, http.StatusOK, o)
}

func (a api) placeOrder(w http.ResponseWriter, r *http.Request) {
	var in order
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&in); err != nil {
		log.Printf("handler: decode: %v", err)
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid json"})
		return
	}
	o, err := a.svc.placeOrder(in)
	if err != nil {
		log.Printf("handler: error: %v", err)
		status := http.StatusConflict
		if _, ok := errors.AsType[*invalidError](err); ok {
			status = http.StatusUnprocessableEntity
		}
		writeJSON(w, status, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusCreated, o)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// count feeds the expvar counters; it is course telemetry, not part of the lesson.
func count(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requestsTotal.Add(1)
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		if sw.status >= 400 {
			errorsTotal.Add(1)
		}
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func newHandler() http.Handler {
	a := api{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/orders/{id}", a.getOrder)
	mux.HandleFunc("POST /api/orders", a.placeOrder)
	return count(mux)
}

func main() {
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("listening on %s", ln.Addr())
	srv := &http.Server{Handler: newHandler(), ReadHeaderTimeout: 5 * time.Second}
	log.Fatal(srv.Serve(ln))
}
