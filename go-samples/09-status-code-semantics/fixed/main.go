// Command fixed is the lesson 09 payments API after the fix: one function maps
// every error to its HTTP status with errors.Is/As, the 429 and 503 answers say
// when to come back (Retry-After), and a contract test pins the table. The body
// keeps its envelope, but its code now always equals the status line.
package main

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"expvar"
	"fmt"
	"log"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"

	"gopitfalls/samples/internal/serve"
)

// Counters for the course notebook. X-Scenario is a label the load generator
// puts on each request so that server-side counts can be split per scenario.
var (
	requestsTotal      = expvar.NewInt("requests_total")
	requestsByScenario = expvar.NewMap("requests_by_scenario")
	responsesByStatus  = expvar.NewMap("responses_by_status")
)

var (
	errUnauthenticated   = errors.New("missing or invalid bearer token")
	errForbidden         = errors.New("account belongs to another customer")
	errAccountNotFound   = errors.New("account not found")
	errAccountLocked     = errors.New("account locked by a payment in progress")
	errInsufficientFunds = errors.New("insufficient funds")
	errRateLimited       = errors.New("too many payments for this account, slow down")
	errLedgerDown        = errors.New("ledger shard unavailable")
)

// validationError names the part of the request that is wrong.
type validationError struct{ Field, Reason string }

func (e *validationError) Error() string { return e.Field + ": " + e.Reason }

type account struct {
	owner   string
	balance int64  // cents
	state   string // "", "locked", "throttled" or "shard-down"
}

// Each account makes one outcome happen every time (see LESSON.md).
var accounts = map[string]account{
	"acc-ok":     {owner: "alice", balance: 1 << 40},
	"acc-poor":   {owner: "alice", balance: 0},
	"acc-bob":    {owner: "bob", balance: 1 << 40},
	"acc-locked": {owner: "alice", balance: 1 << 40, state: "locked"},
	"acc-hot":    {owner: "alice", balance: 1 << 40, state: "throttled"},
	"acc-eu":     {owner: "alice", balance: 1 << 40, state: "shard-down"},
}

type payment struct {
	Account     string `json:"account"`
	AmountCents int64  `json:"amount_cents"`
	Currency    string `json:"currency"`
}

type receipt struct {
	ID          string `json:"id"`
	Account     string `json:"account"`
	AmountCents int64  `json:"amount_cents"`
	Currency    string `json:"currency"`
}

var paymentSeq atomic.Int64

func (p payment) validate() error {
	switch {
	case p.Account == "":
		return &validationError{"account", "required"}
	case p.AmountCents <= 0:
		return &validationError{"amount_cents", "must be positive"}
	case len(p.Currency) != 3 || strings.ToUpper(p.Currency) != p.Currency:
		return &validationError{"currency", "must be a three-letter ISO 4217 code"}
	}
	return nil
}

// charge is the domain logic. It knows nothing about HTTP.
func charge(customer string, p payment) (receipt, error) {
	if err := p.validate(); err != nil {
		return receipt{}, err
	}
	a, ok := accounts[p.Account]
	switch {
	case !ok:
		return receipt{}, fmt.Errorf("charge %s: %w", p.Account, errAccountNotFound)
	case a.owner != customer:
		return receipt{}, fmt.Errorf("charge %s: %w", p.Account, errForbidden)
	case a.state == "locked":
		return receipt{}, fmt.Errorf("charge %s: %w", p.Account, errAccountLocked)
	case a.state == "throttled":
		return receipt{}, fmt.Errorf("charge %s: %w", p.Account, errRateLimited)
	case a.state == "shard-down":
		return receipt{}, fmt.Errorf("charge %s: ledger eu-1: %w", p.Account, errLedgerDown)
	case a.balance < p.AmountCents:
		return receipt{}, fmt.Errorf("charge %s: %w", p.Account, errInsufficientFunds)
	}
	id := "pay_" + strconv.FormatInt(paymentSeq.Add(1), 10)
	return receipt{id, p.Account, p.AmountCents, p.Currency}, nil
}

// customerFor maps the bearer token to a customer; only API_TOKEN is known.
func customerFor(r *http.Request, token string) (string, error) {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
		return "", errUnauthenticated
	}
	return "alice", nil
}

// apiResult is the envelope every response uses: "read code, not the status".
type apiResult struct {
	Code    int      `json:"code"`
	Message string   `json:"message,omitempty"`
	Payment *receipt `json:"payment,omitempty"`
}

// statusOf is the one place where an error becomes an HTTP status. Wrapped errors
// are found by errors.Is/As; anything unrecognised is a 500, the server's fault.
func statusOf(err error) int {
	var invalid *validationError
	switch {
	case errors.As(err, &invalid):
		return http.StatusBadRequest // 400: fix the request, do not retry it
	case errors.Is(err, errUnauthenticated):
		return http.StatusUnauthorized // 401: get a token
	case errors.Is(err, errForbidden):
		return http.StatusForbidden // 403: this token may not do it
	case errors.Is(err, errAccountNotFound):
		return http.StatusNotFound // 404
	case errors.Is(err, errAccountLocked):
		return http.StatusConflict // 409: the resource's state forbids it now
	case errors.Is(err, errInsufficientFunds):
		return http.StatusUnprocessableEntity // 422: valid request, refused by a rule
	case errors.Is(err, errRateLimited):
		return http.StatusTooManyRequests // 429: retry after Retry-After
	case errors.Is(err, errLedgerDown):
		return http.StatusServiceUnavailable // 503: retry after Retry-After
	}
	return http.StatusInternalServerError
}

func paymentsHandler(token string, retryAfter int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		customer, err := customerFor(r, token)
		if err != nil {
			writeError(w, err, retryAfter)
			return
		}
		var p payment
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&p); err != nil {
			writeError(w, &validationError{"body", err.Error()}, retryAfter)
			return
		}
		rc, err := charge(customer, p)
		if err != nil {
			writeError(w, err, retryAfter)
			return
		}
		writeJSON(w, http.StatusOK, apiResult{Code: 200, Payment: &rc})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// writeError answers with statusOf(err) and Retry-After where a retry can succeed.
// A 4xx message describes the caller's own request; a 5xx message says only what
// the caller may do, and the error itself (which names internal parts, such as
// the ledger shard) goes to the server's log, where the on-call engineer needs it.
func writeError(w http.ResponseWriter, err error, retryAfter int) {
	status := statusOf(err)
	msg := err.Error()
	switch status {
	case http.StatusTooManyRequests:
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
		msg = "temporarily unavailable; retry after Retry-After seconds"
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="payments"`)
	case http.StatusInternalServerError:
		msg = "internal error"
	}
	if status >= 500 {
		log.Printf("payments: answered %d: %v", status, err)
	}
	writeJSON(w, status, apiResult{Code: status, Message: msg})
}

// count feeds the expvar counters; it is course telemetry, not part of the lesson.
func count(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requestsTotal.Add(1)
		scenario := r.Header.Get("X-Scenario")
		if scenario == "" {
			scenario = "untagged"
		}
		requestsByScenario.Add(scenario, 1)
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		responsesByStatus.Add(strconv.Itoa(sw.status), 1)
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func newHandler(token string, retryAfter int) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.Handle("POST /api/payments", paymentsHandler(token, retryAfter))
	return count(mux)
}

func main() {
	token := os.Getenv("API_TOKEN")
	if token == "" {
		log.Fatal("API_TOKEN must be set")
	}
	retryAfter, err := strconv.Atoi(os.Getenv("RETRY_AFTER")) // seconds
	if err != nil || retryAfter < 0 {
		retryAfter = 1
	}
	// Server timeouts and a graceful shutdown, as lessons 20 and 21 teach.
	if err := serve.Run(serve.Addr(), newHandler(token, retryAfter)); err != nil {
		log.Fatal(err)
	}
}
