// A poll service for the office lunch vote: POST /vote?choice=pizza casts one ballot and
// answers with a signed receipt (the ballot's number and the choice's running count);
// GET /results shows the ballots cast and the count of every choice.
//
// A wrong fix of lab 05: a deferred recover() in the vote handler itself, in the belief
// that the crash is a panic. "concurrent map writes" is a fatal error: the runtime ends
// the process without unwinding, and no deferred function runs.
package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"os"
)

// The poll's state.
var (
	tally       = map[string]int{} // ballots per choice
	ballotsCast int                // ballots of every choice
)

var choices = map[string]bool{"pizza": true, "sushi": true, "salad": true, "tacos": true}

// receiptKey signs the receipts, so that a voter can prove later what was counted.
var receiptKey = []byte("lunch-poll-2026")

type receipt struct {
	Ballot    int    `json:"ballot"`
	Choice    string `json:"choice"`
	Count     int    `json:"count"` // the choice's count, this ballot included
	Signature string `json:"signature"`
}

func sign(rc receipt) (string, error) {
	mac := hmac.New(sha256.New, receiptKey)
	if _, err := fmt.Fprintf(mac, "%d|%s|%d", rc.Ballot, rc.Choice, rc.Count); err != nil {
		return "", err
	}
	return hex.EncodeToString(mac.Sum(nil)), nil
}

func vote(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			log.Printf("vote recovered: %v", v)
			http.Error(w, "try again", http.StatusServiceUnavailable)
		}
	}()
	choice := r.URL.Query().Get("choice")
	if !choices[choice] {
		http.Error(w, "unknown choice", http.StatusBadRequest)
		return
	}
	// A ballot counts only once its receipt is signed: take the next numbers, sign, and
	// then store them.
	rc := receipt{Ballot: ballotsCast + 1, Choice: choice, Count: tally[choice] + 1}
	sig, err := sign(rc)
	if err != nil {
		http.Error(w, "cannot sign the receipt", http.StatusInternalServerError)
		return
	}
	rc.Signature = sig
	tally[choice] = rc.Count
	ballotsCast = rc.Ballot
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(rc)
}

type results struct {
	Ballots int            `json:"ballots"`
	Tally   map[string]int `json:"tally"`
}

func showResults(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(results{Ballots: ballotsCast, Tally: tally})
}

// recoverPanics turns a handler's panic into a 500, so one bad request cannot end the poll.
func recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				log.Printf("recovered: %v", v)
				http.Error(w, "internal error", http.StatusInternalServerError)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func main() {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /vote", vote)
	mux.HandleFunc("GET /results", showResults)
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	log.Printf("lunch poll listening on %s", addr)
	log.Fatal(http.ListenAndServe(addr, recoverPanics(mux)))
}
