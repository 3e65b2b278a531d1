package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"gopitfalls/samples/internal/lessontest"
)

// The pitfall: every checkout writes six unstructured INFO lines (five when it
// fails), whatever the caller needed, about 650 bytes per request.
func TestEveryRequestNarrates(t *testing.T) {
	var out lessontest.SyncBuffer
	srv := httptest.NewServer(newMux(&out))
	defer srv.Close()
	const n = 50
	failed := 0
	for range n {
		resp, err := http.Get(srv.URL + "/checkout")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode >= 400 {
			failed++
		}
	}
	text := out.String()
	lines := strings.Count(text, "\n")
	if want := 6*n - failed; lines != want {
		t.Errorf("%d lines for %d checkouts (%d failed), want %d", lines, n, failed, want)
	}
	if per := len(text) / n; per < 500 {
		t.Errorf("%d bytes per checkout, want at least 500", per)
	}
}
