// A recipe search: GET /search?q=pasta asks the 4 shards of the recipe index at once and
// answers with the hits of the shards that replied within the page's 40 ms deadline.
//
// A wrong fix of lab 11: a buffer of 1 on the replies channel. The first late shard hands
// its reply in; with two or more late, the others still wait forever.
package main

import (
	"encoding/json"
	"fmt"
	"log"
	"math/rand/v2"
	"net/http"
	"os"
	"time"
)

const (
	shards   = 4
	deadline = 40 * time.Millisecond // what the search page waits for the shards
	stall    = time.Second           // a stalled shard's answer time
)

type hits struct {
	Shard   int      `json:"shard"`
	Recipes []string `json:"recipes"`
}

// searchShard stands in for a call to one shard of the index.
func searchShard(shard int, q string) hits {
	wait := time.Millisecond + rand.N(60*time.Millisecond)
	if rand.N(10) == 0 {
		wait = stall
	}
	time.Sleep(wait)
	return hits{Shard: shard, Recipes: []string{fmt.Sprintf("%s-%d-a", q, shard),
		fmt.Sprintf("%s-%d-b", q, shard)}}
}

func search(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query().Get("q")
	replies := make(chan hits, 1)
	for i := range shards {
		go func() {
			replies <- searchShard(i, q)
		}()
	}
	var found []hits
	timeout := time.After(deadline)
collect:
	for range shards {
		select {
		case h := <-replies:
			found = append(found, h)
		case <-timeout:
			break collect // the late shards are left behind
		}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"q": q, "shards_answered": len(found), "hits": found})
}

func main() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /search", search)
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	log.Printf("listening on %s", addr)
	log.Fatal(http.ListenAndServe(addr, mux))
}
