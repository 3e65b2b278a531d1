// A shipping-estimate service for a web shop's checkout: GET /estimate?zip=10115 asks the
// carrier's rate API (at $UPSTREAM_URL) what the parcel will cost and passes the answer on.
//
// The reference answer of lab 02 (see NOTES.md): a client of its own with bounded waits,
// a 1 s budget derived from the request's context, and 504 when the budget runs out.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	"gopitfalls/samples/internal/serve"
)

// carrierURL is the base URL of the carrier's rate API.
var carrierURL = os.Getenv("UPSTREAM_URL")

// budget is how long the checkout may wait for an estimate from this service; the page
// itself gives up after 1.5 s, so an answer after the budget still reaches it.
const budget = time.Second

// carrier bounds every wait of its own too, in case a caller forgets the context: the
// connect, the response header, the whole exchange.
var carrier = &http.Client{
	Timeout: budget,
	Transport: &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 250 * time.Millisecond}).DialContext,
		TLSHandshakeTimeout:   250 * time.Millisecond,
		ResponseHeaderTimeout: budget,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       30 * time.Second,
	},
}

// errCarrierTimeout says the carrier did not answer within the budget.
var errCarrierTimeout = errors.New("the carrier did not answer in time")

// askCarrier returns the carrier's rate for a parcel to zip; it ends when ctx does.
func askCarrier(ctx context.Context, zip string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		carrierURL+"/rates?zip="+url.QueryEscape(zip), nil)
	if err != nil {
		return "", err
	}
	resp, err := carrier.Do(req)
	if err != nil {
		var netErr net.Error
		if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()) {
			return "", errCarrierTimeout
		}
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("carrier answered %s", resp.Status)
	}
	rate, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", err
	}
	return string(rate), nil
}

func estimate(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), budget)
	defer cancel()
	rate, err := askCarrier(ctx, r.URL.Query().Get("zip"))
	switch {
	case errors.Is(err, errCarrierTimeout):
		http.Error(w, "carrier: "+err.Error(), http.StatusGatewayTimeout)
		return
	case err != nil:
		http.Error(w, "carrier: "+err.Error(), http.StatusBadGateway)
		return
	}
	fmt.Fprintf(w, "shipping: %s\n", rate)
}

func main() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /estimate", estimate)
	// Server timeouts and a graceful shutdown, as lessons 20 and 21 teach.
	if err := serve.Run(serve.Addr(), mux); err != nil {
		log.Fatal(err)
	}
}
