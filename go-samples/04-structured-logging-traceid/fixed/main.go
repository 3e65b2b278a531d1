// A checkout service: GET /checkout?order=1042 loads the cart, reserves stock, charges
// the card and confirms the order, logging each step. With &card=declined the payment
// provider declines the card and the checkout fails with 402.
//
// The fix, in three steps:
//  1. log/slog with a JSON handler on stderr: one JSON object per line, with a
//     nanosecond timestamp, a level, a message and named attributes;
//  2. a middleware (withTrace) that takes the trace id from a valid W3C traceparent
//     header, or makes a new one, returns it in the X-Trace-Id response header, and
//     stores it in the request context under an unexported key type (a string key
//     like "trace_id" can collide with any other package that picks the same string);
//  3. a slog.Handler wrapper (traceHandler) that adds trace_id from the context to
//     every record, and every log call passes the context (InfoContext, ErrorContext).
package main

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
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
		slog.WarnContext(ctx, "payment failed", "err", errDeclined)
		return errDeclined
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
		slog.ErrorContext(ctx, "checkout failed", "order", order, "err", err)
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

// parseTraceparent returns the trace id of a W3C traceparent header
// (version-traceid-parentid-flags, lowercase hex, e.g.
// 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01), or false if it is invalid.
func parseTraceparent(h string) (string, bool) {
	// Version 00 is exactly 55 characters; a later version may append "-" and more fields.
	if len(h) < 55 || (len(h) > 55 && (h[:2] == "00" || h[55] != '-')) {
		return "", false
	}
	if h[2] != '-' || h[35] != '-' || h[52] != '-' {
		return "", false
	}
	version, traceID, parentID, flags := h[0:2], h[3:35], h[36:52], h[53:55]
	if !isLowerHex(version) || version == "ff" || !isLowerHex(flags) ||
		!isLowerHex(traceID) || traceID == "00000000000000000000000000000000" ||
		!isLowerHex(parentID) || parentID == "0000000000000000" {
		return "", false
	}
	return traceID, true
}

func isLowerHex(s string) bool {
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func newTraceID() string {
	var b [16]byte
	crand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// withTrace gives every request a trace id: the caller's, or a new one.
func withTrace(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		traceID, ok := parseTraceparent(r.Header.Get("traceparent"))
		if !ok {
			traceID = newTraceID()
		}
		w.Header().Set("X-Trace-Id", traceID)
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
