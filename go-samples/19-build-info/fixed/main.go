// Command shop prices orders (GET /price?item=widget&qty=3) and says exactly which
// build it is: GET /version, the build_info metric on GET /metrics, and its first
// log line all carry the release, the git commit it was built from (vcs.revision),
// whether the checkout had uncommitted changes (vcs.modified) and the build time.
//
// The commit comes from the Go toolchain itself: go build stamps vcs.* into every
// binary it builds from a package inside a git checkout (-buildvcs=auto), and
// runtime/debug.ReadBuildInfo reads it back. Only what git cannot know is passed
// by the build: go build -ldflags "-X main.release=1.4.1 -X main.buildTime=...".
package main

import (
	"encoding/json"
	"expvar"
	"fmt"
	"log"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync/atomic"

	"gopitfalls/samples/internal/serve"
)

// Set by the build with -ldflags -X; the defaults say that nobody set them.
var (
	release   = "dev"
	buildTime = "unknown"
)

var (
	requests  = expvar.NewInt("requests_total")
	failures  = expvar.NewInt("errors_total")
	errorSeq  atomic.Int64
	prices    = map[string]int{"widget": 250, "gadget": 1200}
	discounts []func(item string, qty, cents int) (int, error)
)

// buildInfo is what /version, the build_info metric and the start log report.
type buildInfo struct {
	Release    string `json:"release"`
	Revision   string `json:"revision"`
	Modified   bool   `json:"modified"`
	CommitTime string `json:"commit_time"`
	BuildTime  string `json:"build_time"`
	GoVersion  string `json:"go_version"`
}

// readBuildInfo reads the vcs.* settings the go command stamped into the binary.
// A binary built outside a checkout (an export without .git), from a list of
// files (go build main.go) or with -buildvcs=false has none: it says "unknown".
func readBuildInfo() buildInfo {
	b := buildInfo{Release: release, BuildTime: buildTime, Revision: "unknown"}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	b.GoVersion = info.GoVersion
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.time":
			b.CommitTime = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	return b
}

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

// metricsText is the build_info gauge in the Prometheus text format: always 1,
// the facts are its labels, so a dashboard can join any metric to the build.
func metricsText(b buildInfo) string {
	return "# HELP build_info The build this process runs: release, commit, dirty flag, build time.\n" +
		"# TYPE build_info gauge\n" +
		fmt.Sprintf("build_info{release=%q,revision=%q,modified=\"%t\",build_time=%q,goversion=%q} 1\n",
			b.Release, b.Revision, b.Modified, b.BuildTime, b.GoVersion)
}

func handler(b buildInfo) http.Handler {
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
			// The id is all a user reports; the log line with the same id, and the
			// build this process logged at start, lead to the code.
			failures.Add(1)
			id := fmt.Sprintf("E%06d", errorSeq.Add(1))
			log.Printf("error id=%s revision=%s path=%s: %v", id, b.Revision, r.URL, err)
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal error", "id": id})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"item": item, "qty": qty, "total_cents": cents})
	})
	mux.HandleFunc("GET /version", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, b)
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprint(w, metricsText(b))
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func main() {
	b := readBuildInfo()
	log.Printf("starting shop release=%s revision=%s modified=%t commit_time=%s build_time=%s go=%s",
		b.Release, b.Revision, b.Modified, b.CommitTime, b.BuildTime, b.GoVersion)
	if b.Revision == "unknown" {
		log.Print("warning: this binary carries no vcs.revision: build the package inside " +
			"the git checkout (go build ./cmd/shop), not a list of files or an export without .git")
	}
	if err := serve.Run(serve.Addr(), handler(b)); err != nil {
		log.Fatal(err)
	}
}
