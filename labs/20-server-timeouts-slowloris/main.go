// A meter-readings intake: smart electricity meters POST /readings with a batch of
// readings in the body (a few KiB, on a GSM link that may need up to 4 s to send it),
// and the billing team reads GET /meters/{id}/last.
//
// Your task: a few hundred broken meters connect, start a request and then send one
// header byte every half second, forever. Each keeps a connection and a goroutine of
// the intake. Make the server hang up on a client that has not finished its request
// headers within 2 s, still accept a batch whose body takes 4 s to arrive, and refuse
// request headers of 64 KiB (431). The TODO marks where. `gopitfalls check 20` judges
// your version.
package main

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strings"
	"sync"
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
	// TODO: this server waits for a request's headers (and its body) as long as the
	// client likes, and takes headers of up to 1 MiB. Give it limits.
	srv := &http.Server{
		Addr:    addr,
		Handler: mux,
	}
	log.Printf("listening on %s", addr)
	log.Fatal(srv.ListenAndServe())
}
