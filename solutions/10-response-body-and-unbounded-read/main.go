// A mailing-list service that keeps its subscribers in sync with the company's CRM (at
// $UPSTREAM_URL): GET /ready (the load balancer's readiness probe) pings the CRM, GET /sync
// downloads the CRM's subscriber export and counts the subscribers.
//
// The reference answer of lab 10 (see NOTES.md): every response body is closed, and the
// export is read through a limit one byte above 8 MiB, so that a larger one is refused.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"time"

	"gopitfalls/samples/internal/serve"
)

var crmURL = os.Getenv("UPSTREAM_URL")

// maxExportBytes is the largest subscriber export the service accepts: a normal one is a
// few MiB.
const maxExportBytes = 8 << 20

var crm = &http.Client{Timeout: 10 * time.Second}

func ready(w http.ResponseWriter, r *http.Request) {
	resp, err := crm.Get(crmURL + "/ping")
	if err != nil {
		http.Error(w, "crm unreachable", http.StatusServiceUnavailable)
		return
	}
	// Closing the unread body gives the connection back to the pool (the transport reads
	// off a short remainder itself).
	defer resp.Body.Close()
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
	// Read one byte more than the limit: if it arrives, the export is too large, and it is
	// refused without reading (or holding) the rest.
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxExportBytes+1))
	if err != nil {
		http.Error(w, "crm: "+err.Error(), http.StatusBadGateway)
		return
	}
	if len(data) > maxExportBytes {
		http.Error(w, fmt.Sprintf("export larger than %d bytes", maxExportBytes),
			http.StatusBadGateway)
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
	// Server timeouts and a graceful shutdown, as lessons 20 and 21 teach.
	if err := serve.Run(serve.Addr(), mux); err != nil {
		log.Fatal(err)
	}
}
