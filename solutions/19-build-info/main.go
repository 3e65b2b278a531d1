// A currency-rates service: GET /rates?base=EUR answers today's rates, and GET /version
// says which build answers, so that a wrong rate reported from production can be traced
// to the code that computed it.
//
// The reference answer of lab 19: the release comes from -ldflags -X, the commit and the
// dirty flag from the binary's own build info (runtime/debug.ReadBuildInfo).
// NOTES.md says why each change is needed.
package main

import (
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"os"
	"runtime/debug"
	"time"
)

// release is set by the build: go build -ldflags "-X main.release=3.2.0". A variable, not
// a const: -X can only set a package-level string variable.
var release = "dev"

// buildInfo is what /version and the start log report.
type buildInfo struct {
	Release  string `json:"release"`
	Revision string `json:"revision"`
	Modified bool   `json:"modified"`
}

// readBuildInfo reads what the go command stamped into this binary. One built outside a
// git checkout (an export without .git, go build main.go) has no vcs.* settings.
func readBuildInfo() buildInfo {
	b := buildInfo{Release: release, Revision: "unknown"}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	return b
}

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
	b := readBuildInfo()
	mux.HandleFunc("GET /version", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, b)
	})
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	log.Printf("starting rates release=%s revision=%s modified=%t on %s", b.Release, b.Revision, b.Modified, addr)
	log.Fatal(srv.ListenAndServe())
}
