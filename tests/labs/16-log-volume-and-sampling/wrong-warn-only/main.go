// Lab 16, a wrong fix: one structured line per request, but only at WARN and above: the
// failures are all kept and the successes never logged. Small and fast, and nobody can
// see what a normal quote looks like. Expected to fail a_sample_of_the_successes_is_logged.
package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math"
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

// successShare is the share of successful requests whose line is kept.
const successShare = 0.05

// sampled says whether a request is among the share kept: the first 16 hex digits of its
// id, read as a number, fall below share of 2^64. The same id is always kept or always
// dropped, here and in any service that samples the same way.
func sampled(id string, share float64) bool {
	b, err := hex.DecodeString(id)
	if err != nil || len(b) < 8 {
		return true
	}
	return float64(binary.BigEndian.Uint64(b[:8])) < share*math.Exp2(64)
}

var _ = sampled // kept for later

type fares struct{ log *slog.Logger }

func (f *fares) quote(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := requestID(r)
	from, to := r.URL.Query().Get("from"), r.URL.Query().Get("to")
	w.Header().Set("X-Request-Id", id)
	km := 2 + float64(len(from)+len(to)+int(id[0]))/10
	surge := 1 + float64(id[1]%4)/10
	price := (2.5 + 1.1*km) * surge
	status := outcome(id)
	// One line per request, written when its outcome is known: its level says how it
	// ended, and a failed request's line is always kept.
	level, msg := slog.LevelInfo, "fare quoted"
	switch status {
	case http.StatusUnprocessableEntity:
		level, msg = slog.LevelWarn, "fare refused: unknown zone"
	case http.StatusServiceUnavailable:
		level, msg = slog.LevelError, "fare failed: pricing engine unavailable"
	}
	if level > slog.LevelInfo {
		f.log.LogAttrs(r.Context(), level, msg, slog.String("request_id", id),
			slog.String("from", from), slog.String("to", to), slog.Float64("km", km),
			slog.Float64("surge", surge), slog.Float64("price_eur", price),
			slog.Int("status", status),
			slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if status != http.StatusOK {
		fmt.Fprintf(w, "{\"error\":%q,\"request_id\":%q}\n", http.StatusText(status), id)
		return
	}
	fmt.Fprintf(w, "{\"price_eur\":%.2f,\"km\":%.1f,\"request_id\":%q}\n", price, km, id)
}

func main() {
	f := &fares{log: slog.New(slog.NewJSONHandler(logOutput(), nil))}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /fare", f.quote)
	if err := serve.Run(serve.Addr(), mux); err != nil {
		log.Fatal(err)
	}
}
