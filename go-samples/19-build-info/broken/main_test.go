package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Built without -ldflags -X (as the Dockerfile does), /version cannot tell one
// build from another.
func TestVersionSaysUnknown(t *testing.T) {
	rec := httptest.NewRecorder()
	handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/version", nil))
	if got := strings.TrimSpace(rec.Body.String()); got != `{"version":"unknown"}` {
		t.Fatalf("/version = %s", got)
	}
}

func TestBulkOrderOfGadgetsFails(t *testing.T) {
	rec := httptest.NewRecorder()
	handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/price?item=gadget&qty=12", nil))
	if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), `"id":"E`) {
		t.Fatalf("bulk gadgets: status %d, body %s", rec.Code, rec.Body)
	}
}
