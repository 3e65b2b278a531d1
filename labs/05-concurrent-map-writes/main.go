// A poll service for the office lunch vote: POST /vote?choice=pizza casts one ballot and
// answers with a signed receipt (the ballot's number and the choice's running count);
// GET /results shows the ballots cast and the count of every choice.
//
// Your task: on Friday at noon the whole office votes at once, and the service dies with
// "fatal error: concurrent map writes". Make it survive many voters at a time, and make
// every ballot that got a receipt count, once: the tally must equal the receipts handed
// out, and the race detector must find nothing while a dashboard reads the results.
// The TODO markers show where. `gopitfalls check 05` judges your version.
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

// The poll's state. TODO: every request runs on its own goroutine, and they all read
// and write these at once, with nothing to keep them apart.
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
	choice := r.URL.Query().Get("choice")
	if !choices[choice] {
		http.Error(w, "unknown choice", http.StatusBadRequest)
		return
	}
	// A ballot counts only once its receipt is signed: take the next numbers, sign, and
	// then store them. TODO: another request can run between the reads and the writes.
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

// TODO: the dashboard polls this while the votes come in.
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
