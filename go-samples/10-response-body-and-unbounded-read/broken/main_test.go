package main

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// Every /stock call leaves its body unclosed, so each one needs a new connection.
func TestStockOpensAConnectionPerRequest(t *testing.T) {
	var conns atomic.Int64
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"sku":"a","stock":3}`)
	}))
	up.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	up.Start()
	defer up.Close()
	mux := newMux(up.URL)
	for range 20 {
		mux.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/stock?sku=a", nil))
	}
	if n := conns.Load(); n < 20 {
		t.Fatalf("20 requests opened only %d connections; the leak did not show", n)
	}
	http.DefaultClient.CloseIdleConnections()
}
