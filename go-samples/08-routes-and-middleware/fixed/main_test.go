package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

const testToken = "test-token"

var handler = newHandler(testToken)

func call(method, path, token string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, req)
	return rec
}

// TestRouteAudit is the table test over every route: a protected route must answer
// 401 without a token, every route must answer 200 with one.
func TestRouteAudit(t *testing.T) {
	for _, rt := range routes {
		t.Run(rt.Method+" "+rt.Path, func(t *testing.T) {
			wantAnon := http.StatusOK
			if rt.Auth {
				wantAnon = http.StatusUnauthorized
			}
			if got := call(rt.Method, rt.Path, "").Code; got != wantAnon {
				t.Errorf("without token: %d, want %d", got, wantAnon)
			}
			if got := call(rt.Method, rt.Path, testToken).Code; got != http.StatusOK {
				t.Errorf("with token: %d, want 200", got)
			}
		})
	}
}

func TestWrongTokenRejected(t *testing.T) {
	if got := call("GET", "/api/orders", "guess").Code; got != http.StatusUnauthorized {
		t.Errorf("wrong token: %d, want 401", got)
	}
}

// The pprof and expvar handlers live on http.DefaultServeMux, which this handler
// never consults.
func TestDebugEndpointsNotServed(t *testing.T) {
	for _, p := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/vars"} {
		if got := call("GET", p, "").Code; got != http.StatusUnauthorized {
			t.Errorf("GET %s without token: %d, want 401", p, got)
		}
		if got := call("GET", p, testToken).Code; got != http.StatusNotFound {
			t.Errorf("GET %s with token: %d, want 404", p, got)
		}
	}
}

func TestMuxAnswers404And405(t *testing.T) {
	rec := call("DELETE", "/api/users/1", testToken)
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") == "" {
		t.Errorf("DELETE /api/users/1: %d Allow=%q, want 405 with an Allow header", rec.Code, rec.Header().Get("Allow"))
	}
	if got := call("GET", "/api/users/1/orders", testToken).Code; got != http.StatusNotFound {
		t.Errorf("GET /api/users/1/orders: %d, want 404", got)
	}
	if got := call("GET", "/api/users/99", testToken).Code; got != http.StatusNotFound {
		t.Errorf("GET /api/users/99: %d, want 404", got)
	}
}

// A public prefix must not become a way around the check.
func TestPathTricksStayProtected(t *testing.T) {
	for _, p := range []string{"/static/../api/admin/export", "/static/%2e%2e/api/admin/export", "//api/admin/export"} {
		rec := call("GET", p, "")
		if rec.Code == http.StatusOK {
			t.Errorf("GET %s without token: 200 %q", p, rec.Body.String())
		}
	}
}
