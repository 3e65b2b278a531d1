// A meter-readings intake: smart electricity meters POST /readings with a batch of
// readings in the body (a few KiB, on a GSM link that may need up to 4 s to send it),
// and the billing team reads GET /meters/{id}/last.
//
// A wrong fix of lab 20: one ReadTimeout of 2 s. It cuts the broken meters (with no
// ReadHeaderTimeout it also bounds the headers), but it covers the body too, so a good
// meter whose batch takes 4 s to arrive is cut as well.
package main

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

var (
	mu   sync.Mutex
	last = map[string]string{} // meter id -> its last reading line
)

// readings stores a batch: one "meter-id value" line per reading.
func readings(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		http.Error(w, "cannot read the batch: "+err.Error(), http.StatusBadRequest)
		return
	}
	n := 0
	mu.Lock()
	for _, line := range strings.Split(string(body), "\n") {
		if id, _, ok := strings.Cut(line, " "); ok {
			last[id] = line
			n++
		}
	}
	mu.Unlock()
	fmt.Fprintf(w, "stored %d readings\n", n)
}

func lastReading(w http.ResponseWriter, r *http.Request) {
	mu.Lock()
	line, ok := last[r.PathValue("id")]
	mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	fmt.Fprintln(w, line)
}

func main() {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /readings", readings)
	mux.HandleFunc("GET /meters/{id}/last", lastReading)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	srv := &http.Server{
		Addr:           addr,
		Handler:        mux,
		ReadTimeout:    2 * time.Second,
		MaxHeaderBytes: 16 << 10,
	}
	log.Printf("listening on %s", addr)
	log.Fatal(srv.ListenAndServe())
}
