// A parcel-locker API for couriers: POST /v1/lockers/reserve books a locker for a
// parcel ({"locker":"L-100","size":"M","weight_g":1200}, header X-Courier-Key).
//
// Your task: the courier app talks to this service through a standard HTTP client that
// retries 5xx and 429 answers (up to 3 times, honouring Retry-After), and reads the
// status line, never the body. Today it books a taken locker as a success, retries a
// request that can never succeed four times, and hammers a throttled locker bank. Make
// every answer's status say what happened: a client error is a 4xx that is not retried, a
// failure is never a 2xx, and "try again later" is a 429 or 503 that says when
// (Retry-After, RETRY_AFTER seconds). The TODO markers show where.
// `gopitfalls check 09` judges your version.
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

func reserveHandler(key string, retryAfter int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Courier-Key") != key {
			// TODO: a caller without a valid key must learn to authenticate.
			writeJSON(w, http.StatusForbidden, result{Error: "forbidden"})
			return
		}
		var body reservation
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			// TODO: a body that does not parse is the caller's mistake, not the server's.
			http.Error(w, "cannot read reservation: "+err.Error(), http.StatusInternalServerError)
			return
		}
		id, err := reserve("north", body)
		if err != nil {
			// TODO: every refusal answers 200 with "ok": false. Give each error its own
			// status (they are wrapped: look through the wrapping), and tell the client
			// when to come back where it can (retryAfter seconds, from RETRY_AFTER).
			writeJSON(w, http.StatusOK, result{Error: err.Error()})
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
