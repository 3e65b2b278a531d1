// Wrong fix for lab 09: statusOf looks for the validation error with
// errors.Is(err, &badRequest{}), as for the sentinel errors. errors.Is compares values,
// and a new pointer equals no error ever returned, so every bad request falls through to
// 500 and the client retries it four times.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
)

var (
	errNoKey      = errors.New("missing or invalid courier key")
	errNoLocker   = errors.New("no such locker")
	errOtherDepot = errors.New("locker belongs to another depot")
	errOccupied   = errors.New("locker is occupied")
	errTooHeavy   = errors.New("parcel exceeds the locker's weight limit")
	errBankBusy   = errors.New("locker bank is rate limited")
	errBankDown   = errors.New("locker bank controller offline")
)

// badRequest says which field of a reservation is wrong.
type badRequest struct{ Field, Problem string }

func (e *badRequest) Error() string { return "field " + e.Field + ": " + e.Problem }

type locker struct {
	depot     string
	maxWeight int // grams
	state     string
}

// Each locker gives the same outcome every time.
var lockers = map[string]locker{
	"L-100": {depot: "north", maxWeight: 20000},
	"L-200": {depot: "south", maxWeight: 20000},
	"L-300": {depot: "north", maxWeight: 20000, state: "occupied"},
	"L-400": {depot: "north", maxWeight: 3000},
	"L-500": {depot: "north", maxWeight: 20000, state: "bank-busy"},
	"L-600": {depot: "north", maxWeight: 20000, state: "bank-down"},
}

type reservation struct {
	Locker  string `json:"locker"`
	Size    string `json:"size"`
	WeightG int    `json:"weight_g"`
}

var seq atomic.Int64

// reserve is the domain logic; it knows nothing about HTTP.
func reserve(depot string, r reservation) (string, error) {
	switch r.Size {
	case "S", "M", "L":
	default:
		return "", &badRequest{"size", "must be S, M or L"}
	}
	if r.WeightG <= 0 {
		return "", &badRequest{"weight_g", "must be positive"}
	}
	l, ok := lockers[r.Locker]
	switch {
	case !ok:
		return "", fmt.Errorf("reserve %s: %w", r.Locker, errNoLocker)
	case l.depot != depot:
		return "", fmt.Errorf("reserve %s: %w", r.Locker, errOtherDepot)
	case l.state == "occupied":
		return "", fmt.Errorf("reserve %s: %w", r.Locker, errOccupied)
	case l.state == "bank-busy":
		return "", fmt.Errorf("reserve %s: %w", r.Locker, errBankBusy)
	case l.state == "bank-down":
		return "", fmt.Errorf("reserve %s: bank B7: %w", r.Locker, errBankDown)
	case r.WeightG > l.maxWeight:
		return "", fmt.Errorf("reserve %s: %d g: %w", r.Locker, r.WeightG, errTooHeavy)
	}
	return "rsv-" + strconv.FormatInt(seq.Add(1), 10), nil
}

// result is what every answer carries; the team reads "ok", the client reads the status.
type result struct {
	OK          bool   `json:"ok"`
	Error       string `json:"error,omitempty"`
	Reservation string `json:"reservation,omitempty"`
}

// statusOf is the one place where an error becomes a status. reserve wraps its errors,
// so they are found with errors.Is/As; anything unknown is the server's fault (500).
func statusOf(err error) int {
	switch {
	case errors.Is(err, &badRequest{}):
		return http.StatusBadRequest // 400: fix the request; retrying cannot help
	case errors.Is(err, errNoKey):
		return http.StatusUnauthorized // 401: authenticate
	case errors.Is(err, errOtherDepot):
		return http.StatusForbidden // 403: this courier may not
	case errors.Is(err, errNoLocker):
		return http.StatusNotFound // 404
	case errors.Is(err, errOccupied):
		return http.StatusConflict // 409: the locker's state forbids it now
	case errors.Is(err, errTooHeavy):
		return http.StatusUnprocessableEntity // 422: a valid request refused by a rule
	case errors.Is(err, errBankBusy):
		return http.StatusTooManyRequests // 429: come back after Retry-After
	case errors.Is(err, errBankDown):
		return http.StatusServiceUnavailable // 503: come back after Retry-After
	}
	return http.StatusInternalServerError
}

func writeError(w http.ResponseWriter, err error, retryAfter int) {
	status := statusOf(err)
	switch status {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		// Before WriteHeader: headers set afterwards are not sent.
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `CourierKey realm="lockers"`)
	}
	writeJSON(w, status, result{Error: err.Error()})
}

func reserveHandler(key string, retryAfter int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Courier-Key") != key {
			writeError(w, errNoKey, retryAfter)
			return
		}
		var body reservation
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			writeError(w, &badRequest{"body", err.Error()}, retryAfter)
			return
		}
		id, err := reserve("north", body)
		if err != nil {
			writeError(w, err, retryAfter)
			return
		}
		writeJSON(w, http.StatusOK, result{OK: true, Reservation: id})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func main() {
	key := os.Getenv("COURIER_KEY")
	if key == "" {
		log.Fatal("COURIER_KEY must be set")
	}
	retryAfter, err := strconv.Atoi(os.Getenv("RETRY_AFTER")) // seconds
	if err != nil || retryAfter < 1 {
		retryAfter = 1
	}
	mux := http.NewServeMux()
	mux.Handle("POST /v1/lockers/reserve", reserveHandler(key, retryAfter))
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	log.Printf("listening on %s", addr)
	log.Fatal(http.ListenAndServe(addr, mux))
}
