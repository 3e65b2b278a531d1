// A recipe search: GET /search?q=pasta asks the 4 shards of the recipe index at once and
// answers with the hits of the shards that replied within the page's 40 ms deadline.
//
// The reference answer of lab 11 (see NOTES.md): the replies channel has room for every
// shard, and the request's deadline, derived from r.Context(), stops the late shards.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"math/rand/v2"
	"net/http"
	"time"

	"gopitfalls/samples/internal/serve"
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

// searchShard stands in for a call to one shard of the index; it gives up when ctx ends.
func searchShard(ctx context.Context, shard int, q string) (hits, error) {
	wait := time.Millisecond + rand.N(60*time.Millisecond)
	if rand.N(10) == 0 {
		wait = stall
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return hits{}, ctx.Err()
	}
	return hits{Shard: shard, Recipes: []string{fmt.Sprintf("%s-%d-a", q, shard),
		fmt.Sprintf("%s-%d-b", q, shard)}}, nil
}

func search(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query().Get("q")
	// The deadline ends the shard calls too: returning cancels it at once.
	ctx, cancel := context.WithTimeout(r.Context(), deadline)
	defer cancel()
	// Room for every reply: a shard can always hand its reply in and return, whether or
	// not anyone still receives.
	replies := make(chan hits, shards)
	for i := range shards {
		go func() {
			if h, err := searchShard(ctx, i, q); err == nil {
				replies <- h
			}
		}()
	}
	var found []hits
collect:
	for range shards {
		select {
		case h := <-replies:
			found = append(found, h)
		case <-ctx.Done():
			break collect
		}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"q": q, "shards_answered": len(found), "hits": found})
}

func main() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /search", search)
	// Server timeouts and a graceful shutdown, as lessons 20 and 21 teach.
	if err := serve.Run(serve.Addr(), mux); err != nil {
		log.Fatal(err)
	}
}
