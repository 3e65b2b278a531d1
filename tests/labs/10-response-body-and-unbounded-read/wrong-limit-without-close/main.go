// A mailing-list service that keeps its subscribers in sync with the company's CRM (at
// $UPSTREAM_URL): GET /ready (the load balancer's readiness probe) pings the CRM, GET /sync
// downloads the CRM's subscriber export and counts the subscribers.
//
// A wrong fix of lab 10: the export is read through an 8 MiB limit, but the probe's body is
// still never closed: every probe pins its connection and dials a new one.
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

const maxExportBytes = 8 << 20

var crm = &http.Client{Timeout: 10 * time.Second}

func ready(w http.ResponseWriter, r *http.Request) {
	resp, err := crm.Get(crmURL + "/ping")
	if err != nil {
		http.Error(w, "crm unreachable", http.StatusServiceUnavailable)
		return
	}
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
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxExportBytes+1))
	if err != nil {
		http.Error(w, "crm: "+err.Error(), http.StatusBadGateway)
		return
	}
	if len(data) > maxExportBytes {
		http.Error(w, "export too large", http.StatusBadGateway)
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
