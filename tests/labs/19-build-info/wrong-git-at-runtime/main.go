// A currency-rates service: GET /rates?base=EUR answers today's rates, and GET /version
// says which build answers, so that a wrong rate reported from production can be traced
// to the code that computed it.
//
// A wrong fix of lab 19: the commit comes from running git rev-parse HEAD at startup.
// It works on the developer's machine, inside the checkout; in production (here: wherever
// the checker runs the binary) there is no checkout, and the revision is "unknown".
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/exec"
	"strings"
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

// readBuildInfo asks git for the commit, at startup.
func readBuildInfo() buildInfo {
	b := buildInfo{Release: release, Revision: "unknown"}
	// Ask git where the service runs.
	if out, err := exec.Command("git", "rev-parse", "HEAD").Output(); err == nil {
		b.Revision = strings.TrimSpace(string(out))
	}
	if out, err := exec.Command("git", "status", "--porcelain").Output(); err == nil {
		b.Modified = len(bytes.TrimSpace(out)) > 0
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
