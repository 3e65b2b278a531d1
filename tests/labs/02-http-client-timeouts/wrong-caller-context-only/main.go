// A shipping-estimate service for a web shop's checkout: GET /estimate?zip=10115 asks the
// carrier's rate API (at $UPSTREAM_URL) what the parcel will cost and passes the answer on.
//
// A wrong fix of lab 02: the call carries the request's context, r.Context(), and no
// deadline of its own. It does end when the checkout page leaves (after 1.5 s), so
// nothing piles up; but the page never gets an answer, not even a 504.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
)

// carrierURL is the base URL of the carrier's rate API.
var carrierURL = os.Getenv("UPSTREAM_URL")

var carrier = &http.Client{}

// askCarrier returns the carrier's rate for a parcel to zip.
func askCarrier(ctx context.Context, zip string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		carrierURL+"/rates?zip="+url.QueryEscape(zip), nil)
	if err != nil {
		return "", err
	}
	resp, err := carrier.Do(req)
	if err != nil {
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
	rate, err := askCarrier(r.Context(), r.URL.Query().Get("zip"))
	if errors.Is(err, context.DeadlineExceeded) {
		http.Error(w, "carrier: "+err.Error(), http.StatusGatewayTimeout)
		return
	}
	if err != nil {
		http.Error(w, "carrier: "+err.Error(), http.StatusBadGateway)
		return
	}
	fmt.Fprintf(w, "shipping: %s\n", rate)
}

func main() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /estimate", estimate)
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	log.Printf("listening on %s", addr)
	log.Fatal(http.ListenAndServe(addr, mux))
}
