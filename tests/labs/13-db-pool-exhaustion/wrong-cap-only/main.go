// Wrong fix of lab 13: the pool is capped at the service's 16 connections (and keeps
// them idle), but a booking still holds its transaction, and its connection, while the
// card service works: at 100 bookings a second × 0.3 s the 16 are not enough.
package main

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"time"

	_ "gopitfalls/samples/internal/pgdriver" // the course's PostgreSQL driver, "pgteach"
)

// roomQuery looks a room up. pg_sleep stands in for what makes a real query slow (disk
// reads, lock waits): the connection is busy for 20 ms while the server's CPU is free.
const roomQuery = `SELECT r.id, r.kind, r.nightly_rate FROM rooms AS r CROSS JOIN pg_sleep(0.02)
WHERE r.id = $1`

type room struct {
	ID   int    `json:"id"`
	Kind string `json:"kind"`
	Rate int    `json:"nightly_rate_cents"`
}

type hotel struct {
	db      *sql.DB
	cardURL string // the card service that puts holds on guests' cards
	cards   *http.Client
}

func (h *hotel) getRoom(w http.ResponseWriter, r *http.Request) {
	var rm room
	err := h.db.QueryRowContext(r.Context(), roomQuery, r.PathValue("id")).Scan(&rm.ID, &rm.Kind, &rm.Rate)
	if err == sql.ErrNoRows {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		log.Printf("GET /rooms: %v", err)
		http.Error(w, "database error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(rm)
}

func (h *hotel) book(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("id")
	// The transaction stays open, with its connection, for as long as the card
	// service takes.
	tx, err := h.db.BeginTx(ctx, nil)
	if err != nil {
		log.Printf("POST /book: %v", err)
		http.Error(w, "database error", http.StatusInternalServerError)
		return
	}
	defer tx.Rollback()
	var rate int
	if err := tx.QueryRowContext(ctx, `SELECT nightly_rate FROM rooms WHERE id = $1`, id).Scan(&rate); err != nil {
		log.Printf("POST /book: %v", err)
		http.Error(w, "database error", http.StatusInternalServerError)
		return
	}
	hold, err := h.holdCard(r, id, rate)
	if err != nil {
		log.Printf("POST /book: card service: %v", err)
		http.Error(w, "card declined", http.StatusBadGateway)
		return
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO bookings (room_id, rate, card_hold) VALUES ($1, $2, $3)`,
		id, rate, hold); err != nil {
		log.Printf("POST /book: %v", err)
		http.Error(w, "database error", http.StatusInternalServerError)
		return
	}
	if _, err := tx.ExecContext(ctx, `UPDATE rooms SET nights_booked = nights_booked + 1 WHERE id = $1`, id); err != nil {
		log.Printf("POST /book: %v", err)
		http.Error(w, "database error", http.StatusInternalServerError)
		return
	}
	if err := tx.Commit(); err != nil {
		log.Printf("POST /book: %v", err)
		http.Error(w, "database error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"room":%s,"rate_cents":%d,"card_hold":%q}`+"\n", id, rate, hold)
}

// holdCard asks the card service to hold the night's rate on the guest's card; it
// answers in about 0.3 s with the hold's reference.
func (h *hotel) holdCard(r *http.Request, room string, cents int) (string, error) {
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost,
		fmt.Sprintf("%s/hold?room=%s&cents=%d", h.cardURL, room, cents), nil)
	if err != nil {
		return "", err
	}
	resp, err := h.cards.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("card service: %s", resp.Status)
	}
	return fmt.Sprintf("hold-%s-%d", room, cents), nil
}

// maxConns is this service's share of the server's max_connections (20, of which the
// night audit and the staff's sessions need 4).
const maxConns = 16

// openDB opens the pool with its limits: at most maxConns connections, as many kept idle
// so a burst reuses them instead of opening new ones (each costs the server a process).
func openDB(dsn string) (*sql.DB, error) {
	db, err := sql.Open("pgteach", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	db.SetConnMaxLifetime(30 * time.Minute)
	db.SetConnMaxIdleTime(5 * time.Minute)
	return db, nil
}

func main() {
	db, err := openDB(os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	h := &hotel{db: db, cardURL: os.Getenv("UPSTREAM_URL"), cards: &http.Client{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /rooms/{id}", h.getRoom)
	mux.HandleFunc("POST /rooms/{id}/book", h.book)
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	log.Printf("listening on %s", addr)
	log.Fatal(http.ListenAndServe(addr, mux))
}
