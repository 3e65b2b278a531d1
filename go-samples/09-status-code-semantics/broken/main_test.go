package main

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
)

const testToken = "test-token"

// The same requests as the fixed program's contract table, with what the broken
// program answers and what a client that trusts the status line concludes.
var scenarios = []struct {
	name      string
	anonymous bool
	body      string
	status    int
	bodyCode  int // the "code" member, 0 when the body is not JSON
}{
	{"ok", false, `{"account":"acc-ok","amount_cents":1250,"currency":"EUR"}`, 200, 200},
	{"invalid_json", false, `{"account":"acc-ok","amount_cents":`, 500, 0},
	{"invalid_amount", false, `{"account":"acc-ok","amount_cents":-5,"currency":"EUR"}`, 500, 0},
	{"unauthenticated", true, `{"account":"acc-ok","amount_cents":1250,"currency":"EUR"}`, 404, 0},
	{"forbidden", false, `{"account":"acc-bob","amount_cents":1250,"currency":"EUR"}`, 200, 403},
	{"not_found", false, `{"account":"acc-nope","amount_cents":1250,"currency":"EUR"}`, 200, 404},
	{"conflict", false, `{"account":"acc-locked","amount_cents":1250,"currency":"EUR"}`, 200, 409},
	{"insufficient_funds", false, `{"account":"acc-poor","amount_cents":1250,"currency":"EUR"}`, 200, 402},
	{"rate_limited", false, `{"account":"acc-hot","amount_cents":1250,"currency":"EUR"}`, 200, 429},
	{"unavailable", false, `{"account":"acc-eu","amount_cents":1250,"currency":"EUR"}`, 500, 0},
}

// TestStatusLineLies demonstrates the bug: only "ok" and "unavailable" get a
// status line that a generic client reads correctly.
func TestStatusLineLies(t *testing.T) {
	h := newHandler(testToken)
	misread := 0
	for _, sc := range scenarios {
		req := httptest.NewRequest("POST", "/api/payments", strings.NewReader(sc.body))
		if !sc.anonymous {
			req.Header.Set("Authorization", "Bearer "+testToken)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var res apiResult
		json.Unmarshal(rec.Body.Bytes(), &res)
		if rec.Code != sc.status || res.Code != sc.bodyCode {
			t.Errorf("%s: %d code=%d, want %d code=%d", sc.name, rec.Code, res.Code, sc.status, sc.bodyCode)
		}
		// A failure read as success, a client error read as a server fault
		// (and retried), or a missing token read as a missing resource.
		if (sc.name != "ok" && rec.Code < 300) || (strings.HasPrefix(sc.name, "invalid") && rec.Code >= 500) || rec.Code == 404 && sc.name != "not_found" {
			misread++
		}
	}
	if misread != 8 {
		t.Errorf("misread responses = %d, want 8 of %d", misread, len(scenarios))
	}
}
