// A currency-rates service: GET /rates?base=EUR answers today's rates, and GET /version
// says which build answers, so that a wrong rate reported from production can be traced
// to the code that computed it.
//
// Your task: /version says whatever someone typed into the source before the release,
// and nothing says which commit the binary was built from. Make /version answer JSON
// with the release the build passes in (go build -ldflags "-X main.release=3.2.0"), the
// git commit the binary was built from ("revision") and whether the checkout had
// uncommitted changes ("modified"), all read from the binary itself. The TODO markers show
// where. `gopitfalls check 19` judges your version: it builds it the way a release is
// built, from a throwaway git repository.
package main

import (
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"
)

// TODO: bumped by hand before each release (when someone remembers), and it says nothing
// about the commit. The build sets main.release with -ldflags "-X main.release=...".
const version = "3.1.0"

var rates = map[string]map[string]float64{
	"EUR": {"USD": 1.08, "GBP": 0.85, "CHF": 0.94},
	"USD": {"EUR": 0.93, "GBP": 0.79, "CHF": 0.87},
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func main() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /rates", func(w http.ResponseWriter, r *http.Request) {
		base := r.URL.Query().Get("base")
		table, ok := rates[base]
		if !ok {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("no rates for %q", base)})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"base": base, "rates": table})
	})
	// TODO: answer {"release": ..., "revision": ..., "modified": ...}: the release from
	// the build's -X flag, the commit and the dirty flag from runtime/debug.ReadBuildInfo.
	mux.HandleFunc("GET /version", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"version": version})
	})
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	log.Printf("starting rates version=%s on %s", version, addr)
	log.Fatal(srv.ListenAndServe())
}
