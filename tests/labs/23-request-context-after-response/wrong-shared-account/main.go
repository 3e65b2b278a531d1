// A signup service: POST /signups with {"email": "...", "plan": "pro"} creates an account
// and answers 201 at once; a goroutine then tells the CRM (UPSTREAM_URL, about 300 ms a
// call) so that it sends the welcome mail.
//
// A wrong fix of lab 23: the goroutine runs on context.WithoutCancel(r.Context()), so
// every webhook arrives, but it still gets the *account that the handler writes after
// the go statement: a data race.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log"
	"net/http"
	"os"
	"sync/atomic"
	"time"
)

type account struct {
	ID     int64  `json:"id"`
	Email  string `json:"email"`
	Plan   string `json:"plan"`
	Status string `json:"status"`
}

type service struct {
	crmURL string
	client *http.Client
	nextID atomic.Int64
}

func (s *service) signup(w http.ResponseWriter, r *http.Request) {
	acct := &account{}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10)).Decode(acct); err != nil || acct.Email == "" {
		http.Error(w, `want {"email": "...", "plan": "..."}`, http.StatusBadRequest)
		return
	}
	acct.ID = s.nextID.Add(1)
	go s.tellCRM(context.WithoutCancel(r.Context()), acct)
	acct.Status = "created"
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(acct)
}

// tellCRM posts the new account to the CRM, which sends the welcome mail. It runs on
// ctx, which must outlive the request, and reads the account it is given.
func (s *service) tellCRM(ctx context.Context, acct *account) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	body, _ := json.Marshal(acct)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.crmURL, bytes.NewReader(body))
	if err != nil {
		log.Printf("account %d: %v", acct.ID, err)
		return
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		log.Printf("account %d: no welcome mail: %v", acct.ID, err)
		return
	}
	resp.Body.Close()
}

func main() {
	crm := os.Getenv("UPSTREAM_URL")
	if crm == "" {
		crm = "http://127.0.0.1:9090"
	}
	s := &service{crmURL: crm + "/hooks/welcome", client: &http.Client{Timeout: 5 * time.Second}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /signups", s.signup)
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	log.Printf("listening on %s", addr)
	log.Fatal(srv.ListenAndServe())
}
