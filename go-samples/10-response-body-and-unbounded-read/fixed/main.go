// An inventory service that leans on a catalog upstream, with every body bounded.
//
// The fix, in three steps:
//  1. defer resp.Body.Close() right after the error check, on every path. Close lets
//     the transport reuse the connection: it drains an unread remainder of at most
//     256 KiB itself (for at most 50 ms, in the background), so reading to EOF first
//     is not needed for small bodies; a larger remainder closes the connection;
//  2. bound what is read: an io.LimitedReader of max+1 bytes on the client side (more
//     than max means 502), http.MaxBytesReader on the server side (413);
//  3. stream with json.Decoder instead of buffering the whole body.
//
// The idle pool per upstream host is a setting of its own, MAX_IDLE_CONNS_PER_HOST
// (default 2, the default transport's): it matters when many calls run at once.
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
	"strconv"
	"time"

	"gopitfalls/samples/internal/serve"
)

const (
	maxCatalogBytes = 8 << 20 // a catalog larger than this is refused, not buffered
	maxUploadBytes  = 1 << 20
)

var itemsImported = expvar.NewInt("items_imported")

// importCatalog counts the items of {"items": [...]}, decoding one item at a time:
// memory stays flat however long the catalog is.
func importCatalog(body io.Reader) (int, error) {
	dec := json.NewDecoder(body)
	if err := expectDelim(dec, '{'); err != nil {
		return 0, err
	}
	count := 0
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return count, err
		}
		if key != "items" {
			var skipped json.RawMessage
			if err := dec.Decode(&skipped); err != nil {
				return count, err
			}
			continue
		}
		if err := expectDelim(dec, '['); err != nil {
			return count, err
		}
		for dec.More() {
			var item string
			if err := dec.Decode(&item); err != nil {
				return count, err
			}
			count++
		}
		if err := expectDelim(dec, ']'); err != nil {
			return count, err
		}
	}
	return count, nil
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
	// One client for the upstream: the default transport's settings, the idle pool of
	// maxIdleConnsPerHost (below), and an overall timeout (lesson 02).
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = maxIdleConnsPerHost()
	client := &http.Client{Timeout: 10 * time.Second, Transport: transport}
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
		// Read one byte more than the limit: if that byte arrives, the catalog is too large.
		limited := &io.LimitedReader{R: resp.Body, N: maxCatalogBytes + 1}
		n, err := importCatalog(limited)
		if limited.N <= 0 {
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

// maxIdleConnsPerHost is $MAX_IDLE_CONNS_PER_HOST, or the default transport's 2.
// A connection that comes back while the pool is full is closed: size it for the
// calls that run at once, not for Close to work.
func maxIdleConnsPerHost() int {
	if n, err := strconv.Atoi(os.Getenv("MAX_IDLE_CONNS_PER_HOST")); err == nil && n > 0 {
		return n
	}
	return http.DefaultMaxIdleConnsPerHost
}

func main() {
	mux := newMux(os.Getenv("UPSTREAM_URL"))
	// Server timeouts and a graceful shutdown, as lessons 20 and 21 teach.
	if err := serve.Run(serve.Addr(), mux); err != nil {
		log.Fatal(err)
	}
}
