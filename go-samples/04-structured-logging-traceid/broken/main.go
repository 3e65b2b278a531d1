// A checkout service: GET /checkout?order=1042 loads the cart, reserves stock, charges
// the card and confirms the order, logging each step. With &card=declined the payment
// provider declines the card and the checkout fails with 402.
//
// The pitfall: the log is a stream of log.Printf lines with no request identity. Under
// concurrent load the lines of different requests interleave, and only the first line
// of a request names its order: "payment failed" does not say for which order, and
// the trace id the caller sent in its traceparent header is nowhere in the log, so a
// failure a client reports cannot be matched to its lines.
package main

import (
	"cmp"
	"context"
	"errors"
	"expvar"
	"fmt"
	"log"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"time"
)

var (
	checkoutsOK     = expvar.NewInt("checkouts_ok")
	checkoutsFailed = expvar.NewInt("checkouts_failed")
)

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
	log.Printf("cart loaded: %d items, %d cents", c.items, c.cents)
	return c
}

func reserveStock(ctx context.Context, c cart) {
	call(ctx)
	log.Printf("stock reserved: %d items in warehouse eu-2", c.items)
}

var errDeclined = errors.New("card declined by the payment provider")

func charge(ctx context.Context, c cart, card string) error {
	log.Printf("charging %d cents", c.cents)
	call(ctx)
	if card == "declined" {
		log.Printf("payment failed: %v", errDeclined)
		return errDeclined
	}
	return nil
}

func checkout(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	order := r.URL.Query().Get("order")
	log.Printf("checkout started for order %s", order)
	c := loadCart(ctx, order)
	reserveStock(ctx, c)
	if err := charge(ctx, c, r.URL.Query().Get("card")); err != nil {
		checkoutsFailed.Add(1)
		log.Printf("checkout failed: %v", err)
		http.Error(w, "payment declined", http.StatusPaymentRequired)
		return
	}
	checkoutsOK.Add(1)
	log.Printf("order confirmed")
	fmt.Fprintf(w, "order %s confirmed\n", order)
}

func routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /checkout", checkout)
	return mux
}

func main() {
	addr := cmp.Or(os.Getenv("ADDR"), "127.0.0.1:8080")
	log.Printf("listening on %s", addr)
	log.Fatal(http.ListenAndServe(addr, routes()))
}
