// A shipping-estimate service for a web shop's checkout: GET /estimate?zip=10115 asks the
// carrier's rate API (at $UPSTREAM_URL) what the parcel will cost and passes the answer on.
//
// A wrong fix of lab 02: timeouts on connecting (dial and TLS handshake), none on the
// answer. The carrier accepts the connection at once and then never answers, so the
// wait for the response header is as unbounded as before.
package main

import (
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"
)

// carrierURL is the base URL of the carrier's rate API.
var carrierURL = os.Getenv("UPSTREAM_URL")

var carrier = &http.Client{
	Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 500 * time.Millisecond}).DialContext,
		TLSHandshakeTimeout: 500 * time.Millisecond,
	},
}

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
