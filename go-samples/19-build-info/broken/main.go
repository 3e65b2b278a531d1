// Command shop prices orders (GET /price?item=widget&qty=3) and answers
// GET /version with the version a release script was supposed to stamp in.
//
// The release Makefile builds with -ldflags "-X main.version=$(git describe)", but
// the production image is built by a Dockerfile that runs a plain go build in a
// stage whose context has no .git: nobody sets version, and nothing else in the
// binary says which commit it was built from.
package main

import (
	"encoding/json"
	"expvar"
	"fmt"
	"log"
	"net/http"
	"strconv"
	"sync/atomic"

	"gopitfalls/samples/internal/serve"
)

// version is meant to be set with -ldflags "-X main.version=..." (see above).
var version = "unknown"

var (
	requests  = expvar.NewInt("requests_total")
	failures  = expvar.NewInt("errors_total")
	errorSeq  atomic.Int64
	prices    = map[string]int{"widget": 250, "gadget": 1200}
	discounts []func(item string, qty, cents int) (int, error)
)

func price(item string, qty int) (int, error) {
	each, ok := prices[item]
	if !ok {
		return 0, fmt.Errorf("unknown item %q", item)
	}
	cents := each * qty
	for _, d := range discounts {
		var err error
		if cents, err = d(item, qty, cents); err != nil {
			return 0, err
		}
	}
	return cents, nil
}

func handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /price", func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		qty, err := strconv.Atoi(r.URL.Query().Get("qty"))
		if err != nil || qty < 1 {
			http.Error(w, "qty must be a positive number", http.StatusBadRequest)
			return
		}
		item := r.URL.Query().Get("item")
		cents, err := price(item, qty)
		if err != nil {
			failures.Add(1)
			id := fmt.Sprintf("E%06d", errorSeq.Add(1))
			log.Printf("error id=%s path=%s: %v", id, r.URL, err)
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal error", "id": id})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"item": item, "qty": qty, "total_cents": cents})
	})
	mux.HandleFunc("GET /version", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"version": version})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func main() {
	log.Printf("starting shop version=%s", version)
	if err := serve.Run(serve.Addr(), handler()); err != nil {
		log.Fatal(err)
	}
}
