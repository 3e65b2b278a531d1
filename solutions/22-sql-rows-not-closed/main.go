// A concert box office:
//
//	GET /events/{id}/cheapest-free-seat   the cheapest seat still for sale (404 if sold out)
//	GET /events/{id}/buyers               everyone who bought a seat, with their loyalty points
//
// The reference answer of lab 22: the seat lookup's rows are closed on every path (defer,
// right after Query's error check), and the buyers list checks rows.Err() after its loop,
// answering 504 when the server cut the query short. NOTES.md says why each change is needed.
package main

import (
	"database/sql"
	"encoding/json"
	"errors"
	"log"
	"net/http"
	"os"
	"time"

	"gopitfalls/samples/internal/pgdriver" // the course's PostgreSQL driver, "pgteach"
)

// The pool is sized sensibly for this traffic: raising it is not the fix.
const poolSize = 6

type seat struct {
	Seat  string  `json:"seat"`
	Price float64 `json:"price"`
	Buyer *string `json:"-"`
}

type holder struct {
	Seat    string `json:"seat"`
	Buyer   string `json:"buyer"`
	Loyalty int    `json:"loyalty_points"`
}

type boxOffice struct{ db *sql.DB }

// seatsByPrice streams an event's seats, cheapest first. The caller owns the rows.
func (b *boxOffice) seatsByPrice(event string) (*sql.Rows, error) {
	return b.db.Query(`SELECT seat, price, buyer FROM seats WHERE event_id = $1
		ORDER BY price, seat`, event)
}

func (b *boxOffice) cheapestFreeSeat(w http.ResponseWriter, r *http.Request) {
	rows, err := b.seatsByPrice(r.PathValue("id"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer rows.Close() // every return below gives the connection back
	for rows.Next() {
		var s seat
		if err := rows.Scan(&s.Seat, &s.Price, &s.Buyer); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if s.Buyer == nil {
			writeJSON(w, http.StatusOK, s)
			return
		}
	}
	if err := rows.Err(); err != nil {
		queryFailed(w, err)
		return
	}
	http.Error(w, "sold out", http.StatusNotFound)
}

func (b *boxOffice) buyers(w http.ResponseWriter, r *http.Request) {
	rows, err := b.db.Query(`SELECT seat, buyer, loyalty_points(buyer) FROM seats
		WHERE event_id = $1 AND buyer IS NOT NULL ORDER BY seat`, r.PathValue("id"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer rows.Close()
	list := []holder{}
	for rows.Next() {
		var h holder
		if err := rows.Scan(&h.Seat, &h.Buyer, &h.Loyalty); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		list = append(list, h)
	}
	// Next returned false: at the end of the rows, or because the query failed half way.
	if err := rows.Err(); err != nil {
		queryFailed(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"count": len(list), "buyers": list})
}

// queryFailed answers a failed query: 504 when the server cancelled it (its
// statement_timeout), 500 for anything else.
func queryFailed(w http.ResponseWriter, err error) {
	var pgErr *pgdriver.Error
	if errors.As(err, &pgErr) && pgErr.Code == pgdriver.QueryCanceled {
		http.Error(w, "the query ran out of time: "+err.Error(), http.StatusGatewayTimeout)
		return
	}
	http.Error(w, err.Error(), http.StatusInternalServerError)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func main() {
	db, err := sql.Open("pgteach", os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	db.SetMaxOpenConns(poolSize)
	db.SetMaxIdleConns(poolSize)
	db.SetConnMaxLifetime(30 * time.Minute)

	b := &boxOffice{db: db}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /events/{id}/cheapest-free-seat", b.cheapestFreeSeat)
	mux.HandleFunc("GET /events/{id}/buyers", b.buyers)
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	log.Printf("listening on %s", addr)
	log.Fatal(http.ListenAndServe(addr, mux))
}
