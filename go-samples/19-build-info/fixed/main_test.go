package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, url string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, url, nil))
	return rec
}

// /version and the build_info metric report the same facts, whatever they are.
func TestVersionAndMetricAgree(t *testing.T) {
	b := buildInfo{Release: "1.4.1", Revision: "0123abcd", Modified: true,
		BuildTime: "2026-01-02T03:04:05Z", GoVersion: "go1.27"}
	h := handler(b)
	var got buildInfo
	if err := json.NewDecoder(get(t, h, "/version").Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got != b {
		t.Fatalf("/version = %+v, want %+v", got, b)
	}
	want := `build_info{release="1.4.1",revision="0123abcd",modified="true",` +
		`build_time="2026-01-02T03:04:05Z",goversion="go1.27"} 1`
	if body := get(t, h, "/metrics").Body.String(); !strings.Contains(body, want) {
		t.Fatalf("/metrics lacks %s:\n%s", want, body)
	}
}

// A test binary is not stamped with vcs.*: the program says so instead of guessing.
func TestUnstampedBinarySaysUnknown(t *testing.T) {
	if b := readBuildInfo(); b.Revision != "unknown" || b.Release != "dev" {
		t.Fatalf("readBuildInfo() = %+v, want revision unknown and release dev", b)
	}
}

// Release 1.4.1's bug, kept in both programs: a bulk order of an item without a
// bulk rate fails with a 500 that carries an id.
func TestBulkOrderOfGadgetsFails(t *testing.T) {
	h := handler(readBuildInfo())
	if rec := get(t, h, "/price?item=widget&qty=12"); rec.Code != http.StatusOK {
		t.Fatalf("bulk widgets: status %d", rec.Code)
	}
	rec := get(t, h, "/price?item=gadget&qty=12")
	if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), `"id":"E`) {
		t.Fatalf("bulk gadgets: status %d, body %s", rec.Code, rec.Body)
	}
}
