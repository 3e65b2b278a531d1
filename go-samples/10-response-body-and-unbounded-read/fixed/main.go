// An inventory service that leans on a catalog upstream, with every body bounded.
//
// The fix, in three steps:
//  1. defer resp.Body.Close() right after the error check, on every path. Close lets
//     the transport reuse the connection (since Go 1.27 it drains what is left of a
//     small body itself, so reading to EOF first is no longer needed);
//  2. bound what is read: io.LimitReader(resp.Body, max+1) on the client side (more
//     than max means 502), http.MaxBytesReader on the server side (413);
//  3. stream with json.Decoder instead of buffering the whole body.
package main

import (
	"encoding/json"
	"errors"
	"expvar"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"time"

	"gopitfalls/samples/internal/serve"
)

var itemsImported = expvar.NewInt("items_imported")

const (
	maxCatalogBytes = 8 << 20 // a catalog larger than this is refused, not buffered
	maxUploadBytes  = 1 << 20
)

var errTooLarge = errors.New("catalog larger than the limit")

// importCatalog counts the items of {"items": [...]}, decoding one item at a time and
// reading at most max bytes: memory stays flat whatever the upstream sends.
func importCatalog(body io.Reader, max int64) (int, error) {
	limited := &io.LimitedReader{R: body, N: max + 1}
	dec := json.NewDecoder(limited)
	count := 0
	err := func() error {
		if err := expectDelim(dec, '{'); err != nil {
			return err
		}
		for dec.More() {
			key, err := dec.Token()
			if err != nil {
				return err
			}
			if key != "items" {
				var skipped json.RawMessage
				if err := dec.Decode(&skipped); err != nil {
					return err
				}
				continue
			}
			if err := expectDelim(dec, '['); err != nil {
				return err
			}
			for dec.More() {
				var item string
				if err := dec.Decode(&item); err != nil {
					return err
				}
				count++
			}
			if err := expectDelim(dec, ']'); err != nil {
				return err
			}
		}
		return nil
	}()
	if limited.N <= 0 {
		return count, errTooLarge
	}
	return count, err
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok != want {
		return fmt.Errorf("expected %v, got %v", want, tok)
	}
	return nil
}

func newMux(upstream string) *http.ServeMux {
	// One client for the upstream, with a pool large enough for the concurrency we
	// expect: the default keeps only 2 idle connections per host and closes the rest.
	client := &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 32, IdleConnTimeout: 30 * time.Second},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stock", func(w http.ResponseWriter, r *http.Request) {
		resp, err := client.Get(upstream + "/stock?sku=" + r.URL.Query().Get("sku"))
		if err != nil {
			http.Error(w, "upstream: "+err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			fmt.Fprintln(w, "in stock")
			return
		}
		fmt.Fprintln(w, "unknown")
	})
	mux.HandleFunc("GET /import", func(w http.ResponseWriter, r *http.Request) {
		resp, err := client.Get(upstream + "/catalog")
		if err != nil {
			http.Error(w, "upstream: "+err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		n, err := importCatalog(resp.Body, maxCatalogBytes)
		if errors.Is(err, errTooLarge) {
			http.Error(w, fmt.Sprintf("catalog exceeds %d bytes", maxCatalogBytes),
				http.StatusBadGateway)
			return
		}
		if err != nil {
			http.Error(w, "bad catalog: "+err.Error(), http.StatusBadGateway)
			return
		}
		itemsImported.Add(int64(n))
		fmt.Fprintf(w, "imported %d items\n", n)
	})
	mux.HandleFunc("POST /items", func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxUploadBytes)
		var items []string
		if err := json.NewDecoder(r.Body).Decode(&items); err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
				return
			}
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "received %d items\n", len(items))
	})
	return mux
}

func main() {
	mux := newMux(os.Getenv("UPSTREAM_URL"))
	// Server timeouts and a graceful shutdown, as lessons 20 and 21 teach.
	if err := serve.Run(serve.Addr(), mux); err != nil {
		log.Fatal(err)
	}
}
