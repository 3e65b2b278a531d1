package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// The broken handler has no deadline: against an upstream that never answers it is
// still waiting when the test gives up on it.
func TestQuoteHangsWithHangingUpstream(t *testing.T) {
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
	}))
	defer up.Close()
	defer close(release)

	done := make(chan struct{})
	go func() {
		newMux(up.URL).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/quote", nil))
		close(done)
	}()
	select {
	case <-done:
		t.Fatal("the handler returned although the upstream never answered")
	case <-time.After(1 * time.Second):
	}
}

// The server does notice the caller leaving: net/http reads the inbound connection
// in the background and cancels r.Context() on EOF. The handler never looks at it, so it
// keeps waiting, and the inbound socket stays open until it returns.
func TestServerSeesTheCallerLeaveButTheHandlerWaitsOn(t *testing.T) {
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
	}))
	returned := make(chan struct{})
	mux := newMux(up.URL)
	srv := httptest.NewServer(countCallersGone(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(returned)
		mux.ServeHTTP(w, r)
	})))
	// In this order: the upstream answers, so the handler returns and srv.Close,
	// which waits for it, can finish.
	defer srv.Close()
	defer up.Close()
	defer close(release)

	gone := callersGone.Value()
	client := &http.Client{Timeout: 100 * time.Millisecond}
	if _, err := client.Get(srv.URL + "/quote"); err == nil {
		t.Fatal("the call returned although the upstream never answered")
	}
	deadline := time.Now().Add(2 * time.Second)
	for callersGone.Value() == gone && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if callersGone.Value() != gone+1 {
		t.Fatal("r.Context() was not cancelled after the caller closed its connection")
	}
	select {
	case <-returned:
		t.Fatal("the handler returned; it should still wait for the upstream")
	case <-time.After(300 * time.Millisecond):
	}
}
