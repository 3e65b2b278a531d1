// A gift card service for a chain of cafés:
//
//	GET  /cards/{code}           the card's balance: {"card":"GC-1000","balance_cents":...}
//	POST /cards/{code}/redeem    pays with the card: {"amount_cents":350} -> 201 and the
//	                             new balance; 400 for a bad body or an amount below 1,
//	                             404 for an unknown card, 409 when the balance is too low
//
// Three cards exist at start (see newBank).
//
// A wrong fix of lab 06: the answers are cleaned up by a ResponseWriter that drops
// everything written after an error answer, so each request gets one clean answer; the
// handlers still go on after their errors and change the cards.
package main

import (
	"encoding/json"
	"log"
	"net/http"
	"os"
	"sync"
)

type card struct {
	Code         string `json:"card"`
	BalanceCents int64  `json:"balance_cents"`
}

type bank struct {
	mu    sync.Mutex
	cards map[string]card
}

func newBank() *bank {
	return &bank{cards: map[string]card{
		"GC-1000": {"GC-1000", 1_000_000},
		"GC-0500": {"GC-0500", 500},
		"GC-0042": {"GC-0042", 4200},
	}}
}

type redemption struct {
	AmountCents int64 `json:"amount_cents"`
}

// decodeRedemption reads a redemption from the request's body.
func decodeRedemption(w http.ResponseWriter, r *http.Request) redemption {
	var req redemption
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, "invalid JSON: "+err.Error(), http.StatusBadRequest)
		// TODO: the handler that called this goes on with a zero redemption.
	}
	return req
}

func (b *bank) balance(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	c, ok := b.cards[r.PathValue("code")]
	b.mu.Unlock()
	if !ok {
		http.Error(w, "unknown card", http.StatusNotFound)
		// TODO: http.Error does not end the handler.
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(c)
}

func (b *bank) redeem(w http.ResponseWriter, r *http.Request) {
	req := decodeRedemption(w, r)
	if req.AmountCents < 1 {
		http.Error(w, "amount_cents must be at least 1", http.StatusBadRequest)
		// TODO
	}
	code := r.PathValue("code")
	b.mu.Lock()
	defer b.mu.Unlock()
	c, ok := b.cards[code]
	if !ok {
		http.Error(w, "unknown card", http.StatusNotFound)
		// TODO
	}
	if c.BalanceCents < req.AmountCents {
		http.Error(w, "insufficient balance", http.StatusConflict)
		// TODO
	}
	c.Code = code
	c.BalanceCents -= req.AmountCents
	b.cards[code] = c
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(c)
}

// stopAfterError passes an error answer (its status and http.Error's one line) through,
// and drops whatever the handler writes after it.
type stopAfterError struct {
	http.ResponseWriter
	status int // the first status written
	writes int // writes since an error status
}

func (s *stopAfterError) WriteHeader(status int) {
	if s.status != 0 {
		return
	}
	s.status = status
	s.ResponseWriter.WriteHeader(status)
}

func (s *stopAfterError) Write(p []byte) (int, error) {
	if s.status >= 400 {
		s.writes++
		if s.writes > 1 {
			return len(p), nil
		}
	}
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(p)
}

func once(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h(&stopAfterError{ResponseWriter: w}, r)
	}
}

func main() {
	b := newBank()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /cards/{code}", once(b.balance))
	mux.HandleFunc("POST /cards/{code}/redeem", once(b.redeem))
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	log.Printf("listening on %s", addr)
	log.Fatal(http.ListenAndServe(addr, mux))
}
