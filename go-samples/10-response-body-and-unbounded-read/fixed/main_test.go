package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// countingUpstream answers /stock with a small body and /catalog with n items,
// and counts the TCP connections it accepts.
func countingUpstream(t *testing.T, items int) (*httptest.Server, *atomic.Int64) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/catalog" {
			io.WriteString(w, `{"version":3,"items":[`)
			for i := range items {
				if i > 0 {
					io.WriteString(w, ",")
				}
				fmt.Fprintf(w, `"item-%08d-%s"`, i, strings.Repeat("x", 40))
			}
			io.WriteString(w, "]}")
			return
		}
		io.WriteString(w, `{"sku":"a","stock":3}`)
	}))
	srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

func TestStockReusesOneConnection(t *testing.T) {
	up, conns := countingUpstream(t, 0)
	mux := newMux(up.URL)
	for range 50 {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", "/stock?sku=a", nil))
		if rec.Body.String() != "in stock\n" {
			t.Fatalf("got %q", rec.Body.String())
		}
	}
	// Close hands the connection back once the transport has drained the small
	// body, which it does in the background: now and then the next request is
	// faster and dials a fresh one. Without Close every request dials (see broken).
	if n := conns.Load(); n > 10 {
		t.Fatalf("50 requests opened %d upstream connections, want them reused", n)
	}
}

// Close drains what is left of a body only up to 256 KiB (net/http's
// maxPostCloseReadBytes) and then reuses the connection; a larger remainder closes it.
// /stock never reads the body, so the whole body is the remainder.
func TestCloseDrainsUpTo256KiB(t *testing.T) {
	for _, tc := range []struct {
		size      int
		maxConns  int64
		minConns  int64
		reuseWord string
	}{
		{size: 240 << 10, maxConns: 5, minConns: 1, reuseWord: "reused"},
		{size: 272 << 10, maxConns: 20, minConns: 20, reuseWord: "closed"},
	} {
		var conns atomic.Int64
		body := strings.Repeat("x", tc.size)
		up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, body)
		}))
		up.Config.ConnState = func(c net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		}
		up.Start()
		mux := newMux(up.URL)
		for range 20 {
			mux.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/stock?sku=a", nil))
			time.Sleep(5 * time.Millisecond) // the drain runs in the background
		}
		up.Close()
		if n := conns.Load(); n < tc.minConns || n > tc.maxConns {
			t.Errorf("%d KiB unread: 20 requests opened %d connections, want the connection %s",
				tc.size>>10, n, tc.reuseWord)
		}
	}
}

func TestImportCountsItems(t *testing.T) {
	up, _ := countingUpstream(t, 1000)
	rec := httptest.NewRecorder()
	newMux(up.URL).ServeHTTP(rec, httptest.NewRequest("GET", "/import", nil))
	if rec.Code != 200 || rec.Body.String() != "imported 1000 items\n" {
		t.Fatalf("got %d %q", rec.Code, rec.Body.String())
	}
}

func TestImportRefusesAnOversizedCatalog(t *testing.T) {
	up, _ := countingUpstream(t, 200_000) // about 12 MB, over the 8 MB limit
	rec := httptest.NewRecorder()
	newMux(up.URL).ServeHTTP(rec, httptest.NewRequest("GET", "/import", nil))
	if rec.Code != http.StatusBadGateway {
		t.Fatalf("status %d, want 502", rec.Code)
	}
}

func TestUploadLimit(t *testing.T) {
	mux := newMux("http://127.0.0.1:1")
	big := `["` + strings.Repeat("x", maxUploadBytes) + `"]`
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("POST", "/items", strings.NewReader(big)))
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413", rec.Code)
	}
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("POST", "/items", strings.NewReader(`["a","b"]`)))
	if rec.Body.String() != "received 2 items\n" {
		t.Fatalf("got %q", rec.Body.String())
	}
}
