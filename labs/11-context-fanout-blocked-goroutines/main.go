// A recipe search: GET /search?q=pasta asks the 4 shards of the recipe index at once and
// answers with the hits of the shards that replied within the page's 40 ms deadline (a
// partial answer beats a slow one). A shard usually answers in 1-60 ms; one call in ten
// hits a shard that stalls for a whole second (a compaction).
//
// Your task: the service answers on time, yet its goroutines climb with every request and
// never come down (a day of traffic exhausts its memory). Make every shard call end once its request has been
// answered (promptly, not a second later), and keep answering within the deadline with
// what came in by then. The TODO markers show where. `gopitfalls check 11` judges your
// version.
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
// TODO: it cannot be stopped: once nobody waits for its answer, it should give up.
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
	// TODO: a shard that replies after the deadline sends into this channel when nobody
	// receives any more, and waits there forever.
	replies := make(chan hits)
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
