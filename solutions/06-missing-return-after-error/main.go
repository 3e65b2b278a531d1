// A gift card service for a chain of cafés:
//
//	GET  /cards/{code}           the card's balance: {"card":"GC-1000","balance_cents":...}
//	POST /cards/{code}/redeem    pays with the card: {"amount_cents":350} -> 201 and the
//	                             new balance; 400 for a bad body or an amount below 1,
//	                             404 for an unknown card, 409 when the balance is too low
//
// Three cards exist at start (see newBank).
//
// The reference answer of lab 06: every http.Error is followed by a return, and the
// helper that decodes the body says whether it answered, so that the handler returns too.
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

// decodeRedemption reads a redemption from the request's body. When the body is not
// valid it answers 400 and returns false: the caller must return at once, since a return
// here ends only this function.
func decodeRedemption(w http.ResponseWriter, r *http.Request) (redemption, bool) {
	var req redemption
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, "invalid JSON: "+err.Error(), http.StatusBadRequest)
		return req, false
	}
	return req, true
}

func (b *bank) balance(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	c, ok := b.cards[r.PathValue("code")]
	b.mu.Unlock()
	if !ok {
		http.Error(w, "unknown card", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(c)
}

func (b *bank) redeem(w http.ResponseWriter, r *http.Request) {
	req, ok := decodeRedemption(w, r)
	if !ok {
		return
	}
	if req.AmountCents < 1 {
		http.Error(w, "amount_cents must be at least 1", http.StatusBadRequest)
		return
	}
	code := r.PathValue("code")
	b.mu.Lock()
	defer b.mu.Unlock()
	c, ok := b.cards[code]
	if !ok {
		http.Error(w, "unknown card", http.StatusNotFound)
		return
	}
	if c.BalanceCents < req.AmountCents {
		http.Error(w, "insufficient balance", http.StatusConflict)
		return
	}
	c.Code = code
	c.BalanceCents -= req.AmountCents
	b.cards[code] = c
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(c)
}

func main() {
	b := newBank()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /cards/{code}", b.balance)
	mux.HandleFunc("POST /cards/{code}/redeem", b.redeem)
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	log.Printf("listening on %s", addr)
	log.Fatal(http.ListenAndServe(addr, mux))
}
