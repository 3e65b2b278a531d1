// A wrong fix of lab 12: one problem+json shape with a trace_id member and one log line
// under that id, but no Trace-Id response header: a client that reads headers (or a
// good answer, which has no problem body) never learns the id.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"

	"gopitfalls/samples/internal/traceparent"
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
		return booking{}, fmt.Errorf("select booking %d from calendar_db: %w", id, errNoBooking)
	case id%11 == 0:
		return booking{}, fmt.Errorf("calendar replica eu-2 for booking %d: %w", id, errCalendarDown)
	}
	return booking{ID: id, Room: fmt.Sprintf("R-%d", 100+id%40), Night: "2026-03-01", Nights: 1 + id%3}, nil
}

func (calendar) hold(room, night string) error {
	if room == "R-101" {
		return fmt.Errorf("hold %s on %s: row locked by booking 7781: %w", room, night, errRoomTaken)
	}
	return nil
}

// desk is the business layer.
type desk struct{ cal calendar }

func (d desk) show(id int) (booking, error) {
	b, err := d.cal.booking(id)
	if err != nil {
		return booking{}, fmt.Errorf("get booking: %w", err)
	}
	return b, nil
}

func (d desk) book(in booking) (booking, error) {
	if in.Nights < 1 || in.Nights > 14 {
		return booking{}, &ruleError{"nights", "must be 1 to 14"}
	}
	if err := d.cal.hold(in.Room, in.Night); err != nil {
		return booking{}, fmt.Errorf("book room: %w", err)
	}
	in.ID = 5001
	return in, nil
}

// api is the HTTP layer. Its handlers return their errors; fail writes them.
type api struct{ desk desk }

func (a api) show(w http.ResponseWriter, r *http.Request) error {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil {
		return &ruleError{"id", "must be a booking number"}
	}
	b, err := a.desk.show(id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, b)
	return nil
}

func (a api) book(w http.ResponseWriter, r *http.Request) error {
	var in booking
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&in); err != nil {
		return &ruleError{"body", "not a JSON booking: " + err.Error()}
	}
	b, err := a.desk.book(in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, b)
	return nil
}

// problem is the API's one error body: RFC 9457 problem details, plus the trace id the
// guest quotes to support.
type problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail"`
	Instance string `json:"instance"`
	TraceID  string `json:"trace_id"`
}

const problems = "https://hotel.example/problems/"

// toProblem decides what the guest reads. It writes its own words: the error's text
// (the calendar's tables, hosts and lock holders) goes to the log only.
func toProblem(err error) problem {
	var rule *ruleError
	switch {
	case errors.As(err, &rule):
		status := http.StatusUnprocessableEntity
		if rule.Field == "id" || rule.Field == "body" {
			status = http.StatusBadRequest
		}
		return problem{Type: problems + "invalid", Title: "Invalid booking request", Status: status, Detail: rule.Error()}
	case errors.Is(err, errNoBooking):
		return problem{Type: problems + "not-found", Title: "Booking not found", Status: http.StatusNotFound, Detail: "no booking has this number"}
	case errors.Is(err, errRoomTaken):
		return problem{Type: problems + "room-taken", Title: "Room not available", Status: http.StatusConflict, Detail: "the room is booked that night"}
	case errors.Is(err, errCalendarDown):
		return problem{Type: problems + "unavailable", Title: "Bookings unavailable", Status: http.StatusServiceUnavailable, Detail: "try again in a minute"}
	}
	return problem{Type: "about:blank", Title: "Internal Server Error", Status: http.StatusInternalServerError, Detail: "internal error"}
}

// handle adapts a handler that returns its error: a failed request is logged here, once,
// with the whole error, and answered with a problem under the request's trace id.
func handle(h func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		p := toProblem(err)
		p.Instance = r.URL.Path
		p.TraceID = traceIDFrom(r.Context())
		level := slog.LevelWarn
		if p.Status >= 500 {
			level = slog.LevelError
		}
		slog.Log(r.Context(), level, "request failed", "method", r.Method, "path", r.URL.Path,
			"status", p.Status, "error", err.Error())
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(p.Status)
		json.NewEncoder(w).Encode(p)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

type traceKey struct{} // unexported: no other package can set or read it

func traceIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(traceKey{}).(string)
	return id
}

// withTrace gives each request its trace id: the caller's, when its traceparent header is
// valid W3C trace context, else a new one. The header is set before the handler runs, so
// it goes out with whatever status the handler writes.
func withTrace(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := traceparent.TraceID(r.Header.Get("traceparent"))
		if !ok {
			id = traceparent.NewTraceID()
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), traceKey{}, id)))
	})
}

// traceLog adds the trace id of a record's context to the record.
type traceLog struct{ slog.Handler }

func (h traceLog) Handle(ctx context.Context, rec slog.Record) error {
	if id := traceIDFrom(ctx); id != "" {
		rec.AddAttrs(slog.String("trace_id", id))
	}
	return h.Handler.Handle(ctx, rec)
}

func (h traceLog) WithAttrs(as []slog.Attr) slog.Handler { return traceLog{h.Handler.WithAttrs(as)} }

func (h traceLog) WithGroup(name string) slog.Handler { return traceLog{h.Handler.WithGroup(name)} }

func routes() http.Handler {
	a := api{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/bookings/{id}", handle(a.show))
	mux.HandleFunc("POST /v1/bookings", handle(a.book))
	return withTrace(mux)
}

func main() {
	slog.SetDefault(slog.New(traceLog{slog.NewJSONHandler(os.Stderr, nil)}))
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	slog.Info("listening", "addr", addr)
	if err := http.ListenAndServe(addr, routes()); err != nil {
		slog.Error("serve", "error", err)
		os.Exit(1)
	}
}
