// A shipping-estimate service for a web shop's checkout: GET /estimate?zip=10115 asks the
// carrier's rate API (at $UPSTREAM_URL) what the parcel will cost and passes the answer on.
//
// A wrong fix of lab 02: a client timeout, but a generous one (30 s, "the carrier is
// sometimes slow"), and the call still ignores the request's context. Every abandoned
// call waits its 30 s: far longer than the checkout, which left after 1.5 s.
package main

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"time"
)

// carrierURL is the base URL of the carrier's rate API.
var carrierURL = os.Getenv("UPSTREAM_URL")

var carrier = &http.Client{Timeout: 30 * time.Second}

// askCarrier returns the carrier's rate for a parcel to zip.
func askCarrier(zip string) (string, error) {
	resp, err := carrier.Get(carrierURL + "/rates?zip=" + url.QueryEscape(zip))
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
	rate, err := askCarrier(r.URL.Query().Get("zip"))
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
