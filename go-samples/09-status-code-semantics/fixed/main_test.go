package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

const testToken = "test-token"

// The request for each scenario; LESSON.md lists the same bodies for the notebook.
var scenarios = []struct {
	name       string
	anonymous  bool
	body       string
	status     int
	retryAfter bool
}{
	{"ok", false, `{"account":"acc-ok","amount_cents":1250,"currency":"EUR"}`, 200, false},
	{"invalid_json", false, `{"account":"acc-ok","amount_cents":`, 400, false},
	{"invalid_amount", false, `{"account":"acc-ok","amount_cents":-5,"currency":"EUR"}`, 400, false},
	{"unauthenticated", true, `{"account":"acc-ok","amount_cents":1250,"currency":"EUR"}`, 401, false},
	{"forbidden", false, `{"account":"acc-bob","amount_cents":1250,"currency":"EUR"}`, 403, false},
	{"not_found", false, `{"account":"acc-nope","amount_cents":1250,"currency":"EUR"}`, 404, false},
	{"conflict", false, `{"account":"acc-locked","amount_cents":1250,"currency":"EUR"}`, 409, false},
	{"insufficient_funds", false, `{"account":"acc-poor","amount_cents":1250,"currency":"EUR"}`, 422, false},
	{"rate_limited", false, `{"account":"acc-hot","amount_cents":1250,"currency":"EUR"}`, 429, true},
	{"unavailable", false, `{"account":"acc-eu","amount_cents":1250,"currency":"EUR"}`, 503, true},
}

// TestContract is the contract table: status line, Retry-After, and a body code
// that agrees with the status line.
func TestContract(t *testing.T) {
	h := newHandler(testToken, 2)
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			req := httptest.NewRequest("POST", "/api/payments", strings.NewReader(sc.body))
			if !sc.anonymous {
				req.Header.Set("Authorization", "Bearer "+testToken)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != sc.status {
				t.Fatalf("status %d, want %d (body %s)", rec.Code, sc.status, rec.Body)
			}
			if got := rec.Header().Get("Retry-After"); (got == "2") != sc.retryAfter {
				t.Errorf("Retry-After %q, want present=%v", got, sc.retryAfter)
			}
			var res apiResult
			if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil || res.Code != rec.Code {
				t.Errorf("body %s: code must equal the status line %d", rec.Body, rec.Code)
			}
		})
	}
}

func TestStatusOfWrappedErrors(t *testing.T) {
	for err, want := range map[error]int{
		fmt.Errorf("handler: %w", fmt.Errorf("charge: %w", errInsufficientFunds)): 422,
		fmt.Errorf("decode: %w", &validationError{"body", "EOF"}):                 400,
		errors.Join(errors.New("retry budget spent"), errLedgerDown):              503,
		errors.New("something nobody planned for"):                                500,
	} {
		if got := statusOf(err); got != want {
			t.Errorf("statusOf(%v) = %d, want %d", err, got, want)
		}
	}
}

func TestMethodAndRoute(t *testing.T) {
	rec := httptest.NewRecorder()
	newHandler(testToken, 1).ServeHTTP(rec, httptest.NewRequest("GET", "/api/payments", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET /api/payments: %d, want 405", rec.Code)
	}
}

// A 5xx tells the caller what to do and nothing about the inside (the shard
// that is down); the server's log keeps the whole error for the on-call engineer.
func TestServerErrorsStayInTheLog(t *testing.T) {
	var logged bytes.Buffer
	log.SetOutput(&logged)
	defer log.SetOutput(os.Stderr)
	req := httptest.NewRequest("POST", "/api/payments",
		strings.NewReader(`{"account":"acc-eu","amount_cents":100,"currency":"EUR"}`))
	req.Header.Set("Authorization", "Bearer "+testToken)
	rec := httptest.NewRecorder()
	newHandler(testToken, 2).ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", rec.Code)
	}
	if body := rec.Body.String(); strings.Contains(body, "ledger") || strings.Contains(body, "eu-1") {
		t.Errorf("the 503 body names internal parts: %s", body)
	}
	if !strings.Contains(logged.String(), "ledger eu-1: ledger shard unavailable") {
		t.Errorf("the log lacks the error: %q", logged.String())
	}
}
