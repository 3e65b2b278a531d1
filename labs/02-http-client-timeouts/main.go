// A shipping-estimate service for a web shop's checkout: GET /estimate?zip=10115 asks the
// carrier's rate API (at $UPSTREAM_URL) what the parcel will cost and passes the answer on.
//
// Your task: the checkout page waits 1.5 s for an estimate, then shows "shipping: see
// carrier" and moves on. Today the carrier accepts connections and never answers, and
// every checkout leaves a stuck call behind in this service, for good. Answer every
// request within 1 s: the carrier's rate, or 504 Gateway Timeout when the carrier has not
// answered by then; and keep nothing of a call once its request is over. A carrier that
// is slow but answers (300 ms) must still get its rates through. The TODO markers show
// where. `gopitfalls check 02` judges your version.
package main

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
)

// carrierURL is the base URL of the carrier's rate API.
var carrierURL = os.Getenv("UPSTREAM_URL")

// TODO: this is http.DefaultClient in disguise: no timeout of any kind. Give the service a
// client of its own whose waits are bounded.
var carrier = &http.Client{}

// askCarrier returns the carrier's rate for a parcel to zip.
// TODO: the call knows nothing of the request it serves; it should end when that request
// ends, and at the latest when the 1 s budget is spent.
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
		// TODO: a carrier that did not answer in time is a 504, not a 502.
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
