// A hotel booking API: GET /v1/bookings/{id} shows a booking, POST /v1/bookings books a
// room ({"room":"R-204","night":"2026-03-01","nights":2}). Three layers: the calendar
// (the data), the desk (the rules) and the HTTP handlers.
//
// Your task: when a guest's app reports "booking failed", support cannot find out why.
// Each handler invents its error body (plain text, {"error"}, {"message","code"}), some
// bodies repeat the calendar's internal wording to the guest, nothing in an answer names
// the request, and every layer logs the error it passes up, as plain text. Make every
// error one shape, RFC 9457 problem details (Content-Type application/problem+json, with
// type, title, status and detail) carrying the request's trace_id, the same id the answer
// sends in its Trace-Id header: the caller's, from a valid W3C traceparent header, or a
// new one. Log each failed request exactly once, as one JSON line with that trace_id and
// the whole error; keep the inner layers' wording out of the bodies. Good requests must
// still succeed. The TODO markers show where. `gopitfalls check 12` judges your version.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"strconv"
)

var (
	errNoBooking    = errors.New("sql: no rows in result set")
	errRoomTaken    = errors.New("room already taken")
	errCalendarDown = errors.New("dial tcp 10.4.0.17:5432: connection refused")
)

// ruleError is a booking the desk refuses as given: the guest's mistake.
type ruleError struct{ Field, Rule string }

func (e *ruleError) Error() string { return e.Field + ": " + e.Rule }

type booking struct {
	ID     int    `json:"id"`
	Room   string `json:"room"`
	Night  string `json:"night"`
	Nights int    `json:"nights"`
}

// calendar is the data layer. Its answers are fixed so the check can pick the outcome:
// bookings 1..5000 exist, those that are multiples of 11 live on a replica that is down,
// and room R-101 is always taken.
type calendar struct{}

func (calendar) booking(id int) (booking, error) {
	switch {
	case id <= 0 || id > 5000:
		err := fmt.Errorf("select booking %d from calendar_db: %w", id, errNoBooking)
		log.Printf("calendar: %v", err) // TODO: the inner layers only return their errors
		return booking{}, err
	case id%11 == 0:
		err := fmt.Errorf("calendar replica eu-2 for booking %d: %w", id, errCalendarDown)
		log.Printf("calendar: %v", err)
		return booking{}, err
	}
	return booking{ID: id, Room: fmt.Sprintf("R-%d", 100+id%40), Night: "2026-03-01", Nights: 1 + id%3}, nil
}

func (calendar) hold(room, night string) error {
	if room == "R-101" {
		err := fmt.Errorf("hold %s on %s: row locked by booking 7781: %w", room, night, errRoomTaken)
		log.Printf("calendar: %v", err)
		return err
	}
	return nil
}

// desk is the business layer.
type desk struct{ cal calendar }

func (d desk) show(id int) (booking, error) {
	b, err := d.cal.booking(id)
	if err != nil {
		log.Printf("desk: show %d failed: %v", id, err)
		return booking{}, fmt.Errorf("get booking: %w", err)
	}
	return b, nil
}

func (d desk) book(in booking) (booking, error) {
	if in.Nights < 1 || in.Nights > 14 {
		err := &ruleError{"nights", "must be 1 to 14"}
		log.Printf("desk: refused: %v", err)
		return booking{}, err
	}
	if err := d.cal.hold(in.Room, in.Night); err != nil {
		log.Printf("desk: book failed: %v", err)
		return booking{}, fmt.Errorf("book room: %w", err)
	}
	in.ID = 5001
	return in, nil
}

// api is the HTTP layer.
type api struct{ desk desk }

// TODO: one function that turns an error into the one error body (problem details with
// the trace_id), logs it once, and writes it: every handler's error goes through it.
func (a api) show(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil {
		log.Printf("http: bad booking id %q", r.PathValue("id"))
		http.Error(w, "bad booking id", http.StatusBadRequest)
		return
	}
	b, err := a.desk.show(id)
	if err != nil {
		log.Printf("http: show failed: %v", err)
		if errors.Is(err, errNoBooking) {
			http.Error(w, "no such booking", http.StatusNotFound)
			return
		}
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"message": "try again later", "code": "CAL_DOWN"})
		return
	}
	writeJSON(w, http.StatusOK, b)
}

func (a api) book(w http.ResponseWriter, r *http.Request) {
	var in booking
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&in); err != nil {
		log.Printf("http: decode: %v", err)
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid json"})
		return
	}
	b, err := a.desk.book(in)
	if err != nil {
		log.Printf("http: book failed: %v", err)
		status := http.StatusConflict
		var rule *ruleError
		if errors.As(err, &rule) {
			status = http.StatusUnprocessableEntity
		}
		writeJSON(w, status, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusCreated, b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// TODO: a middleware that gives every request its trace id (the caller's, from a valid
// traceparent header: gopitfalls/samples/internal/traceparent checks it; a new one
// otherwise), sets the Trace-Id response header and keeps the id in the request's context,
// and a JSON log (log/slog) whose lines carry the trace_id of their request's context.
func routes() http.Handler {
	a := api{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/bookings/{id}", a.show)
	mux.HandleFunc("POST /v1/bookings", a.book)
	return mux
}

func main() {
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	log.Printf("listening on %s", addr)
	log.Fatal(http.ListenAndServe(addr, routes()))
}
