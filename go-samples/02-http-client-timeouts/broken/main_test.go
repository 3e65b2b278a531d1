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
