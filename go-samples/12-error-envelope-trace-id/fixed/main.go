// Command fixed is the lesson 12 orders API after the fix. Handlers return errors
// and one adapter turns them into a single body shape, RFC 9457 problem details
// (application/problem+json) with a trace_id member. A middleware gives every
// request a trace id (taken from a W3C traceparent header, or new), echoes it in
// the Trace-Id response header, and a slog handler adds it to every log line. The
// inner layers only wrap errors; the adapter logs each failed request exactly once.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"expvar"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"

	"gopitfalls/samples/internal/serve"

	"gopitfalls/samples/internal/traceparent"
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
		return order{}, fmt.Errorf("order %d: %w", id, errNotFound)
	case id%13 == 0:
		return order{}, fmt.Errorf("read order %d from shard %d: %w", id, id%4, errShardDown)
	}
	return order{ID: id, SKU: "sku-" + strconv.Itoa(id%7), Quantity: 1 + id%3}, nil
}

func (store) reserve(sku string, qty int) error {
	stock := 100
	if sku == "sku-rare" {
		stock = 2
	}
	if qty > stock {
		return fmt.Errorf("reserve %d of %s (have %d): %w", qty, sku, stock, errOutOfStock)
	}
	return nil
}

// service is the business layer.
type service struct{ db store }

func (s service) getOrder(id int) (order, error) {
	o, err := s.db.order(id)
	if err != nil {
		return order{}, fmt.Errorf("get order: %w", err)
	}
	return o, nil
}

func (s service) placeOrder(in order) (order, error) {
	if in.SKU == "" || in.Quantity <= 0 {
		return order{}, &invalidError{"sku/quantity", "sku is required and quantity must be positive"}
	}
	if err := s.db.reserve(in.SKU, in.Quantity); err != nil {
		return order{}, fmt.Errorf("place order: %w", err)
	}
	in.ID = 1001
	return in, nil
}

// api is the HTTP layer. Its handlers return errors instead of writing them.
type api struct{ svc service }

func (a api) getOrder(w http.ResponseWriter, r *http.Request) error {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil {
		return &invalidError{"id", fmt.Sprintf("%q is not an order number", r.PathValue("id"))}
	}
	o, err := a.svc.getOrder(id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, o)
	return nil
}

func (a api) placeOrder(w http.ResponseWriter, r *http.Request) error {
	var in order
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&in); err != nil {
		return &invalidError{"body", "not a JSON order: " + err.Error()}
	}
	o, err := a.svc.placeOrder(in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, o)
	return nil
}

// problem is the one error body of this API: RFC 9457 problem details plus the
// request's trace id, which is what a client quotes when it reports an error.
type problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail"`
	Instance string `json:"instance"`
	TraceID  string `json:"trace_id"`
}

const problemBase = "https://problems.gopitfalls.example/"

// toProblem is the one mapping from errors to what the client sees. Internal
// details of 5xx errors stay in the log.
func toProblem(err error) problem {
	if inv, ok := errors.AsType[*invalidError](err); ok {
		status := http.StatusUnprocessableEntity
		if inv.Field == "id" || inv.Field == "body" {
			status = http.StatusBadRequest
		}
		return problem{Type: problemBase + "invalid-request", Title: "Invalid request", Status: status, Detail: inv.Error()}
	}
	switch {
	case errors.Is(err, errNotFound):
		return problem{Type: problemBase + "not-found", Title: "Order not found", Status: http.StatusNotFound, Detail: "no order has this id"}
	case errors.Is(err, errOutOfStock):
		return problem{Type: problemBase + "out-of-stock", Title: "Not enough stock", Status: http.StatusConflict, Detail: "not enough stock for this quantity"}
	case errors.Is(err, errShardDown):
		return problem{Type: problemBase + "unavailable", Title: "Temporarily unavailable", Status: http.StatusServiceUnavailable, Detail: "storage is unavailable, retry later"}
	}
	return problem{Type: "about:blank", Title: "Internal Server Error", Status: http.StatusInternalServerError, Detail: "internal error"}
}

// handle adapts an error-returning handler: on error it logs once, here at the
// boundary with the full error chain, and writes the problem body.
func handle(h func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		p := toProblem(err)
		p.Instance = r.URL.Path
		p.TraceID = traceIDFrom(r.Context())
		level := slog.LevelWarn
		if p.Status >= 500 {
			level = slog.LevelError
		}
		slog.Log(r.Context(), level, "request failed", "method", r.Method, "path", r.URL.Path, "status", p.Status, "error", err.Error())
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(p.Status)
		json.NewEncoder(w).Encode(p)
	}
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

type traceKey struct{} // unexported key type: no other package can collide with it

func traceIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(traceKey{}).(string)
	return id
}

// withTrace gives each request a trace id: the caller's, from a valid W3C
// traceparent header ("00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>"),
// or a new random one. The id goes into the context and the Trace-Id header.
func withTrace(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := traceparent.TraceID(r.Header.Get("Traceparent"))
		if !ok { // no header, or not a valid one: a new trace starts here
			id = traceparent.NewTraceID()
		}
		w.Header().Set("Trace-Id", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), traceKey{}, id)))
	})
}

// traceHandler adds the trace id of the record's context to every log line.
type traceHandler struct{ slog.Handler }

func (h traceHandler) Handle(ctx context.Context, rec slog.Record) error {
	if id := traceIDFrom(ctx); id != "" {
		rec.AddAttrs(slog.String("trace_id", id))
	}
	return h.Handler.Handle(ctx, rec)
}

func (h traceHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return traceHandler{h.Handler.WithAttrs(as)}
}

func (h traceHandler) WithGroup(name string) slog.Handler {
	return traceHandler{h.Handler.WithGroup(name)}
}

func newHandler() http.Handler {
	a := api{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/orders/{id}", handle(a.getOrder))
	mux.HandleFunc("POST /api/orders", handle(a.placeOrder))
	return count(withTrace(mux))
}

func main() {
	slog.SetDefault(slog.New(traceHandler{slog.NewJSONHandler(os.Stderr, nil)}))
	// Server timeouts and a graceful shutdown, as lessons 20 and 21 teach.
	if err := serve.Run(serve.Addr(), newHandler()); err != nil {
		slog.Error("serve", "error", err)
		os.Exit(1)
	}
}
