// Wrong fix for lab 04: the trace id is the second field of any traceparent with four
// fields, unchecked. A malformed header (upper-case hex, which W3C forbids) becomes the
// trace id, so that caller never gets a valid id of its own.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"gopitfalls/samples/internal/traceparent"
)

// traceKey is the context key of the trace id: an unexported type, so no other package
// can read, overwrite or collide with it.
type traceKey struct{}

// withTraceID adds the trace id of the record's context to every record.
type withTraceID struct{ slog.Handler }

func (h withTraceID) Handle(ctx context.Context, rec slog.Record) error {
	if id, ok := ctx.Value(traceKey{}).(string); ok {
		rec.AddAttrs(slog.String("trace_id", id))
	}
	return h.Handler.Handle(ctx, rec)
}

func (h withTraceID) WithAttrs(attrs []slog.Attr) slog.Handler {
	return withTraceID{h.Handler.WithAttrs(attrs)}
}

func (h withTraceID) WithGroup(name string) slog.Handler {
	return withTraceID{h.Handler.WithGroup(name)}
}

type image struct {
	id            string
	bytes         int
	width, height int
}

// storeCall stands in for a call to the image store or the resizer: 1 to 4 ms.
func storeCall(ctx context.Context) {
	time.Sleep(time.Duration(1+rand.IntN(4)) * time.Millisecond)
}

func fetch(ctx context.Context, id string) image {
	storeCall(ctx)
	n, _ := strconv.Atoi(id)
	img := image{id: id, bytes: 40_000 + 1000*(n%50)}
	slog.InfoContext(ctx, "image fetched", "bytes", img.bytes)
	return img
}

var errCorrupt = errors.New("image data is corrupt")

func decode(ctx context.Context, img image) (image, error) {
	n, _ := strconv.Atoi(img.id)
	if n%10 == 3 {
		return img, errCorrupt // logged once, by the handler that gives up
	}
	img.width, img.height = 1600+n%400, 1200
	slog.InfoContext(ctx, "image decoded", "width", img.width, "height", img.height,
		"format", "jpeg")
	return img, nil
}

func resizeAndStore(ctx context.Context, img image, width int) string {
	storeCall(ctx)
	key := fmt.Sprintf("thumbs/%s-%d.jpg", img.id, width)
	slog.InfoContext(ctx, "thumbnail stored", "key", key)
	return key
}

func thumbnail(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.URL.Query().Get("image")
	width, err := strconv.Atoi(r.URL.Query().Get("width"))
	if err != nil || width <= 0 {
		width = 256
	}
	slog.InfoContext(ctx, "thumbnail requested", "image", id, "width", width)
	img, err := decode(ctx, fetch(ctx, id))
	if err != nil {
		// A bad image is the uploader's problem, not the service's: WARN, not ERROR.
		slog.WarnContext(ctx, "thumbnail failed", "image", id, "err", err)
		http.Error(w, "the image cannot be decoded", http.StatusUnprocessableEntity)
		return
	}
	key := resizeAndStore(ctx, img, width)
	fmt.Fprintf(w, "%s\n", key)
}

// withTrace gives every request a trace id: the caller's when its traceparent is valid
// W3C, a new one otherwise (a malformed header must not become anybody's trace id).
func withTrace(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := traceparent.NewTraceID()
		if parts := strings.Split(r.Header.Get("traceparent"), "-"); len(parts) == 4 {
			id = parts[1]
		}
		w.Header().Set("Trace-Id", id) // before the handler writes the status
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), traceKey{}, id)))
	})
}

func routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /thumbnail", thumbnail)
	return withTrace(mux)
}

func main() {
	slog.SetDefault(slog.New(withTraceID{slog.NewJSONHandler(os.Stderr, nil)}))
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	slog.Info("listening", "addr", addr)
	srv := &http.Server{Addr: addr, Handler: routes(), ReadHeaderTimeout: 5 * time.Second}
	if err := srv.ListenAndServe(); err != nil {
		slog.Error("server stopped", "err", err)
		os.Exit(1)
	}
}
