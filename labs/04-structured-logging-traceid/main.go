// A thumbnail service: GET /thumbnail?image=5012&width=256 fetches an image from the
// store, decodes it, resizes it and stores the thumbnail, logging each step. One image in
// ten is corrupt: its thumbnail fails with 422.
//
// Your task: when a customer reports "my thumbnail failed", the on-call engineer cannot
// find that request's lines: plain log.Printf lines from 16 requests at once interleave,
// and none says which request it belongs to. Make every line a JSON record (one per line)
// with a "level", a "msg" and a "trace_id": its request's trace id, the one of the
// caller's W3C traceparent header when it is valid, a new one otherwise, also sent back
// in a Trace-Id response header. A failed thumbnail is logged once, as a warning (the
// image is bad, the service is fine).
// The TODO markers show where. `gopitfalls check 04` judges your version.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"time"
)

// TODO: log with log/slog and a JSON handler (slog.NewJSONHandler on os.Stderr, made the
// default with slog.SetDefault), and pass each request's context to every log call
// (slog.InfoContext) so that a handler can add the request's trace id to each record.

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
	log.Printf("fetched %d bytes from the image store", img.bytes)
	return img
}

var errCorrupt = errors.New("image data is corrupt")

func decode(ctx context.Context, img image) (image, error) {
	n, _ := strconv.Atoi(img.id)
	if n%10 == 3 {
		// TODO: the failure is logged here and again by the handler, both times as an
		// error: log it once, where the request gives up, as a warning.
		log.Printf("ERROR decode failed: %v", errCorrupt)
		return img, errCorrupt
	}
	img.width, img.height = 1600+n%400, 1200
	log.Printf("decoded a %dx%d JPEG", img.width, img.height)
	return img, nil
}

func resizeAndStore(ctx context.Context, img image, width int) string {
	storeCall(ctx)
	key := fmt.Sprintf("thumbs/%s-%d.jpg", img.id, width)
	log.Printf("stored %s", key)
	return key
}

func thumbnail(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.URL.Query().Get("image")
	width, err := strconv.Atoi(r.URL.Query().Get("width"))
	if err != nil || width <= 0 {
		width = 256
	}
	log.Printf("thumbnail requested: image %s, %d px", id, width)
	img, err := decode(ctx, fetch(ctx, id))
	if err != nil {
		log.Printf("ERROR thumbnail failed: %v", err)
		http.Error(w, "the image cannot be decoded", http.StatusUnprocessableEntity)
		return
	}
	key := resizeAndStore(ctx, img, width)
	fmt.Fprintf(w, "%s\n", key)
}

// TODO: a middleware that finds the request's trace id (the caller's traceparent when it
// is valid: gopitfalls/samples/internal/traceparent checks it; a new one otherwise), sends
// it back in the Trace-Id response header and keeps it in the request's context.
func routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /thumbnail", thumbnail)
	return mux
}

func main() {
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	log.Printf("listening on %s", addr)
	log.Fatal(http.ListenAndServe(addr, routes()))
}
