// An inventory service that leans on a catalog upstream.
//
// Two pitfalls with response bodies:
//   - GET /stock only looks at the upstream's status code and never closes the body.
//     An unclosed, unread body pins its connection: it can never go back to the pool,
//     so every request dials a new TCP connection and leaves two transport goroutines
//     and a file descriptor behind.
//   - GET /import reads the whole catalog with io.ReadAll, however large it is. An
//     upstream that answers with a body bigger than the memory limit kills the service.
package main

import (
	"encoding/json"
	"expvar"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
)

var itemsImported = expvar.NewInt("items_imported")

type catalog struct {
	Items []string `json:"items"`
}

func newMux(upstream string) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stock", func(w http.ResponseWriter, r *http.Request) {
		resp, err := http.Get(upstream + "/stock?sku=" + r.URL.Query().Get("sku"))
		if err != nil {
			http.Error(w, "upstream: "+err.Error(), http.StatusBadGateway)
			return
		}
		// Only the status matters here, so the body is never touched: not read, not closed.
		if resp.StatusCode == http.StatusOK {
			fmt.Fprintln(w, "in stock")
			return
		}
		fmt.Fprintln(w, "unknown")
	})
	mux.HandleFunc("GET /import", func(w http.ResponseWriter, r *http.Request) {
		resp, err := http.Get(upstream + "/catalog")
		if err != nil {
			http.Error(w, "upstream: "+err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body) // as large as the upstream cares to send
		if err != nil {
			http.Error(w, "upstream: "+err.Error(), http.StatusBadGateway)
			return
		}
		var c catalog
		if err := json.Unmarshal(data, &c); err != nil {
			http.Error(w, "bad catalog: "+err.Error(), http.StatusBadGateway)
			return
		}
		itemsImported.Add(int64(len(c.Items)))
		fmt.Fprintf(w, "imported %d items\n", len(c.Items))
	})
	mux.HandleFunc("POST /items", func(w http.ResponseWriter, r *http.Request) {
		data, err := io.ReadAll(r.Body) // a client decides how much memory this takes
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var items []string
		if err := json.Unmarshal(data, &items); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "received %d items\n", len(items))
	})
	return mux
}

func main() {
	mux := newMux(os.Getenv("UPSTREAM_URL"))
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	log.Printf("listening on %s", addr)
	log.Fatal(http.ListenAndServe(addr, mux))
}
