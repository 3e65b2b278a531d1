// A concert box office:
//
//	GET /events/{id}/cheapest-free-seat   the cheapest seat still for sale (404 if sold out)
//	GET /events/{id}/buyers               everyone who bought a seat, with their loyalty points
//
// Your task: a few seconds after the doors open, every seat lookup hangs until its caller
// gives up, while PostgreSQL sits idle; and the buyers list of a big show comes back as a
// short list with 200, so the door staff turn real ticket holders away. Make every query
// give its connection back on every path, and make a list the database cut short an error
// (a 5xx), not a 200. The TODO markers show where. `gopitfalls check 22` judges your version.
package main

import (
	"database/sql"
	"encoding/json"
	"log"
	"net/http"
	"os"
	"time"

	_ "gopitfalls/samples/internal/pgdriver" // the course's PostgreSQL driver, "pgteach"
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
	for rows.Next() {
		var s seat
		if err := rows.Scan(&s.Seat, &s.Price, &s.Buyer); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if s.Buyer == nil {
			writeJSON(w, http.StatusOK, s)
			// TODO: this return skips the rows.Close() below.
			return
		}
	}
	rows.Close()
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
	// TODO: Next returns false at the end of the rows, and also when the query failed
	// half way (the server cancels statements that run over 500 ms). Which was it?
	writeJSON(w, http.StatusOK, map[string]any{"count": len(list), "buyers": list})
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
