// A fare estimate API for a ride-hailing app: GET /fare?from=...&to=... quotes a ride.
// Each request carries an id (the X-Request-Id header; one is made when it is missing)
// that the app's support team searches the logs for when a rider complains.
//
// Your task: every request narrates itself in five INFO lines, written one by one to the
// log pipeline ($LOG_ADDR), which drains 100 kB/s. At 400 requests a second the handlers
// wait in line for the log and the service answers at the pace of its logs. Make it keep
// up: log one line per request, with its request id and status; keep the line of every
// request that failed (4xx or 5xx, the support team needs each one); keep the lines of
// about 5 % of the successful requests, no more. The TODO markers show where.
// `gopitfalls check 16` judges your version.
package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"time"

	"gopitfalls/samples/internal/serve"
)

// logOutput is the log pipeline: a TCP connection to $LOG_ADDR, or stderr. Its send
// buffer is bounded like the 64 KiB pipe to a container runtime, so a slow reader is felt
// as it would be in production. Leave it as it is: the pipeline is not yours to change.
func logOutput() io.Writer {
	addr := os.Getenv("LOG_ADDR")
	if addr == "" {
		return os.Stderr
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		log.Fatalf("log pipeline %s: %v", addr, err)
	}
	c.(*net.TCPConn).SetWriteBuffer(32 << 10)
	return c
}

// requestID is the caller's X-Request-Id when it is 16 hex digits, else a new one.
func requestID(r *http.Request) string {
	id := r.Header.Get("X-Request-Id")
	if b, err := hex.DecodeString(id); err == nil && len(b) == 8 {
		return id
	}
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// outcome decides a quote's fate from its request id, so the same id always ends the
// same way: 2 in 100 name a zone the service does not know (422), 1 in 100 find the
// pricing engine down (503).
func outcome(id string) int {
	sum := sha256.Sum256([]byte(id))
	switch binary.BigEndian.Uint16(sum[:2]) % 100 {
	case 0, 1:
		return http.StatusUnprocessableEntity
	case 2:
		return http.StatusServiceUnavailable
	}
	return http.StatusOK
}

// TODO: every line goes out at once, whatever it says and however the request ended.
type fares struct{ log *log.Logger }

func (f *fares) quote(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := requestID(r)
	from, to := r.URL.Query().Get("from"), r.URL.Query().Get("to")
	w.Header().Set("X-Request-Id", id)
	// TODO: five lines per request, the same five for every one that succeeds.
	f.log.Printf("fare: quote requested from %q to %q by %s (request %s)", from, to, r.RemoteAddr, id)
	km := 2 + float64(len(from)+len(to)+int(id[0]))/10
	surge := 1 + float64(id[1]%4)/10
	f.log.Printf("fare: zones resolved, %.1f km between them (request %s)", km, id)
	price := (2.5 + 1.1*km) * surge
	f.log.Printf("fare: base %.2f EUR with surge x%.1f (request %s)", 2.5+1.1*km, surge, id)
	status := outcome(id)
	switch status {
	case http.StatusUnprocessableEntity:
		f.log.Printf("fare: unknown zone, no quote for request %s", id)
	case http.StatusServiceUnavailable:
		f.log.Printf("fare: pricing engine unavailable for request %s", id)
	default:
		f.log.Printf("fare: quoted %.2f EUR for request %s", price, id)
	}
	f.log.Printf("fare: request %s done with status %d in %s", id, status, time.Since(start))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if status != http.StatusOK {
		fmt.Fprintf(w, "{\"error\":%q,\"request_id\":%q}\n", http.StatusText(status), id)
		return
	}
	fmt.Fprintf(w, "{\"price_eur\":%.2f,\"km\":%.1f,\"request_id\":%q}\n", price, km, id)
}

func main() {
	f := &fares{log: log.New(logOutput(), "", log.LstdFlags|log.Lmicroseconds)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /fare", f.quote)
	if err := serve.Run(serve.Addr(), mux); err != nil {
		log.Fatal(err)
	}
}
