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

// truth is what each scenario means; reading is what a status line tells a client
// that knows nothing about this API (the same tables as the lesson's claims.py).
var truth = map[string]string{
	"ok": "success", "invalid_json": "bad request", "invalid_amount": "bad request",
	"unauthenticated": "authenticate", "forbidden": "forbidden", "not_found": "not found",
	"conflict": "conflict", "insufficient_funds": "refused by a rule",
	"rate_limited": "retry later", "unavailable": "retry later",
}

func reading(status int) string {
	switch {
	case status >= 200 && status < 300:
		return "success"
	case status == 400:
		return "bad request"
	case status == 401:
		return "authenticate"
	case status == 403:
		return "forbidden"
	case status == 404:
		return "not found"
	case status == 409:
		return "conflict"
	case status == 422:
		return "refused by a rule"
	case status == 429, status == 503:
		return "retry later"
	case status >= 500:
		return "server fault"
	}
	return "client error"
}

// TestStatusLineLies demonstrates the bug: only "ok" gets a status line that a
// generic client reads correctly. Failures read as success, bad input as a server
// fault (and retried), a missing token as a missing resource, and the outage as a
// server fault with no hint of when to come back (500, not 503 with Retry-After).
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
		if reading(rec.Code) != truth[sc.name] {
			misread++
		}
	}
	if misread != len(scenarios)-1 {
		t.Errorf("misread responses = %d, want %d of %d", misread, len(scenarios)-1, len(scenarios))
	}
}
