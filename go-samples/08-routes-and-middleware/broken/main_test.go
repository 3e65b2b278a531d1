package main

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

const testToken = "test-token"

// newHandler registers on http.DefaultServeMux, which panics on a second
// registration: build it once for the whole package.
var handler = sync.OnceValue(func() http.Handler { return newHandler(testToken) })

func call(method, path, token string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	handler().ServeHTTP(rec, req)
	return rec
}

// TestAuditFindsTheBugs probes every declared route with and without the token
// and checks that the audit finds exactly the two broken routes.
func TestAuditFindsTheBugs(t *testing.T) {
	var exposed, missing []string
	for _, rt := range routes {
		anon := call(rt.Method, rt.Path, "").Code
		authed := call(rt.Method, rt.Path, testToken).Code
		if rt.Auth && anon != http.StatusUnauthorized {
			exposed = append(exposed, rt.Path)
		}
		if authed != http.StatusOK {
			missing = append(missing, rt.Path)
		}
	}
	if len(exposed) != 1 || exposed[0] != "/api/admin/export" {
		t.Errorf("protected routes answering without a token = %v, want [/api/admin/export]", exposed)
	}
	if len(missing) != 1 || missing[0] != "/static/app.css" {
		t.Errorf("routes not answering 200 with a token = %v, want [/static/app.css]", missing)
	}
}

func TestPprofIsPublic(t *testing.T) {
	for _, p := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/goroutine?debug=1"} {
		if code := call("GET", p, "").Code; code != http.StatusOK {
			t.Errorf("GET %s without token = %d, want 200 (the bug)", p, code)
		}
	}
}

func TestAnyMethodReachesHandler(t *testing.T) {
	if code := call("DELETE", "/api/users/1", testToken).Code; code != http.StatusOK {
		t.Errorf("DELETE /api/users/1 = %d, want 200 (the handler never checks the method)", code)
	}
}
