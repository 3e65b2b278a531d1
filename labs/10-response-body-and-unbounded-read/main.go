// A mailing-list service that keeps its subscribers in sync with the company's CRM (at
// $UPSTREAM_URL):
//   - GET /ready is the load balancer's readiness probe, called 100 times a second: the
//     service is ready when the CRM answers its ping with 200.
//   - GET /sync downloads the CRM's subscriber export, {"items": ["...", ...]}, and
//     counts the subscribers. A normal export is a few MiB.
//
// Your task: the readiness probe opens a new connection to the CRM on every call and never
// gives it back, and one day the CRM sent a 1 GiB export by mistake and the service died
// with it. Make /ready reuse its connections, and make /sync refuse an export larger than
// 8 MiB (answer 502) instead of reading all of it, while still importing normal ones. The
// TODO markers show where. `gopitfalls check 10` judges your version.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"time"
)

var crmURL = os.Getenv("UPSTREAM_URL")

var crm = &http.Client{Timeout: 10 * time.Second}

func ready(w http.ResponseWriter, r *http.Request) {
	resp, err := crm.Get(crmURL + "/ping")
	if err != nil {
		http.Error(w, "crm unreachable", http.StatusServiceUnavailable)
		return
	}
	// TODO: only the status is needed, so the body is left alone; but nobody closes it.
	if resp.StatusCode != http.StatusOK {
		http.Error(w, "crm not ready", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}

type export struct {
	Items []string `json:"items"`
}

func syncSubscribers(w http.ResponseWriter, r *http.Request) {
	resp, err := crm.Get(crmURL + "/export/subscribers")
	if err != nil {
		http.Error(w, "crm: "+err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	// TODO: this reads whatever the CRM sends, however large. Refuse more than 8 MiB.
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		http.Error(w, "crm: "+err.Error(), http.StatusBadGateway)
		return
	}
	var e export
	if err := json.Unmarshal(data, &e); err != nil {
		http.Error(w, "bad export: "+err.Error(), http.StatusBadGateway)
		return
	}
	fmt.Fprintf(w, "synced %d subscribers\n", len(e.Items))
}

func main() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ready", ready)
	mux.HandleFunc("GET /sync", syncSubscribers)
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	log.Printf("listening on %s", addr)
	log.Fatal(http.ListenAndServe(addr, mux))
}
