// A checkout service: GET /checkout?order=1042 loads the cart, reserves stock, charges
// the card and confirms the order, logging each step. With &card=declined the payment
// provider declines the card and the checkout fails with 402.
//
// The fix, in three steps:
//  1. log/slog with a JSON handler on stderr, set as the default logger: one JSON
//     object per line, with a nanosecond timestamp, a level, a message and named
//     attributes; a declined card is logged once, at WARN, where the checkout gives up
//     (a declined card is the customer's problem, not the service's: no ERROR);
//  2. a middleware (withTrace) that takes the trace id from a valid W3C traceparent
//     header, or makes a new one, returns it in the Trace-Id response header, and
//     stores it in the request context under an unexported key type (a string key
//     like "trace_id" can collide with any other package that picks the same string);
//  3. a slog.Handler wrapper (traceHandler) that adds trace_id from the context to
//     every record, and every log call passes the context (InfoContext, WarnContext).
package main

import (
	"context"
	"errors"
	"expvar"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"time"

	"gopitfalls/samples/internal/serve"

	"gopitfalls/samples/internal/traceparent"
)

var (
	checkoutsOK     = expvar.NewInt("checkouts_ok")
	checkoutsFailed = expvar.NewInt("checkouts_failed")
)

// traceHandler adds the trace id of the record's context to every record.
type traceHandler struct{ slog.Handler }

func (h traceHandler) Handle(ctx context.Context, rec slog.Record) error {
	if id, ok := ctx.Value(traceKey{}).(string); ok {
		rec.AddAttrs(slog.String("trace_id", id))
	}
	return h.Handler.Handle(ctx, rec)
}

func (h traceHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return traceHandler{h.Handler.WithAttrs(attrs)}
}

func (h traceHandler) WithGroup(name string) slog.Handler {
	return traceHandler{h.Handler.WithGroup(name)}
}

func newLogger(w io.Writer) *slog.Logger {
	return slog.New(traceHandler{slog.NewJSONHandler(w, nil)})
}

type cart struct {
	order string
	items int
	cents int64
}

// call stands in for a call to another service (cart, stock, payments): 1 to 5 ms.
func call(ctx context.Context) {
	time.Sleep(time.Duration(1+rand.IntN(5)) * time.Millisecond)
}

func loadCart(ctx context.Context, order string) cart {
	call(ctx)
	n, _ := strconv.Atoi(order)
	c := cart{order: order, items: 1 + n%4, cents: int64(1999 * (1 + n%4))}
	slog.InfoContext(ctx, "cart loaded", "order", c.order, "items", c.items, "cents", c.cents)
	return c
}

func reserveStock(ctx context.Context, c cart) {
	call(ctx)
	slog.InfoContext(ctx, "stock reserved", "items", c.items, "warehouse", "eu-2")
}

var errDeclined = errors.New("card declined by the payment provider")

func charge(ctx context.Context, c cart, card string) error {
	slog.InfoContext(ctx, "charging card", "cents", c.cents)
	call(ctx)
	if card == "declined" {
		return errDeclined // logged once, by the caller that decides what it means
	}
	return nil
}

func checkout(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	order := r.URL.Query().Get("order")
	slog.InfoContext(ctx, "checkout started", "order", order)
	c := loadCart(ctx, order)
	reserveStock(ctx, c)
	if err := charge(ctx, c, r.URL.Query().Get("card")); err != nil {
		checkoutsFailed.Add(1)
		slog.WarnContext(ctx, "checkout failed", "order", order, "err", err)
		http.Error(w, "payment declined", http.StatusPaymentRequired)
		return
	}
	checkoutsOK.Add(1)
	slog.InfoContext(ctx, "order confirmed", "order", order)
	fmt.Fprintf(w, "order %s confirmed\n", order)
}

// traceKey is the context key of the trace id. Its type is unexported, so no other
// package can read, overwrite or collide with it.
type traceKey struct{}

// withTrace gives every request a trace id: the caller's, or a new one.
func withTrace(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Only a valid W3C traceparent (lowercase hex, a known version, non-zero ids)
		// is trusted: internal/traceparent checks it.
		traceID, ok := traceparent.TraceID(r.Header.Get("traceparent"))
		if !ok {
			traceID = traceparent.NewTraceID()
		}
		// No "X-" prefix: RFC 6648 retired it for new headers; lesson 12 uses the same name.
		w.Header().Set("Trace-Id", traceID)
		ctx := context.WithValue(r.Context(), traceKey{}, traceID)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /checkout", checkout)
	return withTrace(mux)
}

func main() {
	slog.SetDefault(newLogger(os.Stderr))
	// Server timeouts and a graceful shutdown, as lessons 20 and 21 teach.
	if err := serve.Run(serve.Addr(), routes()); err != nil {
		slog.Error("server stopped", "err", err)
		os.Exit(1)
	}
}
