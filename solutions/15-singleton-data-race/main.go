// A checkout service's payment settings: GET /gateway?order=42 answers where the order's
// charge goes: the payment provider, its API endpoint, the merchant account there and the
// id of the key that signs the charge. Finance fails over between two providers (here a
// drill, every 2 ms: ROTATE_EVERY), and a rotator goroutine fetches the new provider's
// settings from the vault, one secret at a time.
//
// The reference answer of lab 15: settings once published are never modified. A failover
// fetches the new provider's secrets into a Gateway of its own and publishes it with one
// atomic.Pointer Store; a handler Loads the pointer once and reads every field from that
// snapshot. The first settings are made under a sync.Once. See NOTES.md.
package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// The vault: each provider's settings, a secret per key. A fetch is a network call.
var vault = map[string]map[string]string{
	"northpay": {"endpoint": "https://api.northpay.example/v2", "account": "acct_n_40417",
		"key_id": "npk-2026-11"},
	"southpay": {"endpoint": "https://pay.southpay.example/api", "account": "SP-885-120",
		"key_id": "spk-7f3e"},
}

// fetchSecret reads one secret of a provider from the vault (about 100 µs on the network).
func fetchSecret(provider, key string) (string, error) {
	time.Sleep(100 * time.Microsecond)
	value, ok := vault[provider][key]
	if !ok {
		return "", fmt.Errorf("vault: no %s for %s", key, provider)
	}
	return value, nil
}

// Gateway is where charges go. Once published it is never modified: a failover makes a
// new one.
type Gateway struct {
	Provider string
	Endpoint string
	Account  string
	KeyID    string
	Failover int64 // how many failovers this process has seen
}

// gateway holds the process-wide payment settings: a pointer to a complete, read-only
// Gateway, swapped whole by the rotator; initOnce makes the first one.
var (
	gateway  atomic.Pointer[Gateway]
	initOnce sync.Once
)

// current returns the settings in force, making them on first use (once, however many
// goroutines ask at the same time).
func current() *Gateway {
	initOnce.Do(func() {
		g, err := fetchGateway("northpay", 0)
		if err != nil {
			log.Fatal(err)
		}
		gateway.Store(g)
	})
	return gateway.Load()
}

// fetchGateway reads a provider's settings from the vault into a new Gateway, which no
// other goroutine can see until it is published.
func fetchGateway(provider string, failover int64) (*Gateway, error) {
	g := &Gateway{Provider: provider, Failover: failover}
	for _, key := range []string{"endpoint", "account", "key_id"} {
		value, err := fetchSecret(provider, key)
		if err != nil {
			return nil, err
		}
		switch key {
		case "endpoint":
			g.Endpoint = value
		case "account":
			g.Account = value
		case "key_id":
			g.KeyID = value
		}
	}
	return g, nil
}

// rotate fails over to the other provider every `every`: the new settings are complete
// before one Store makes them the ones in force.
func rotate(every time.Duration) {
	providers := []string{"northpay", "southpay"}
	for i := 1; ; i++ {
		time.Sleep(every)
		next, err := fetchGateway(providers[i%2], current().Failover+1)
		if err != nil {
			log.Printf("failover: %v", err)
			continue
		}
		gateway.Store(next)
	}
}

// target is what GET /gateway answers.
type target struct {
	Order    string `json:"order"`
	Provider string `json:"provider"`
	Endpoint string `json:"endpoint"`
	Account  string `json:"account"`
	KeyID    string `json:"key_id"`
	Failover int64  `json:"failover"`
}

func handleGateway(w http.ResponseWriter, r *http.Request) {
	g := current() // one snapshot: every field below comes from the same Gateway
	t := target{Order: r.URL.Query().Get("order"), Provider: g.Provider,
		Endpoint: g.Endpoint, Account: g.Account, KeyID: g.KeyID, Failover: g.Failover}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(t)
}

func main() {
	every, err := time.ParseDuration(cmp.Or(os.Getenv("ROTATE_EVERY"), "2ms"))
	if err != nil || every <= 0 {
		log.Fatalf("ROTATE_EVERY %q is not a positive duration", os.Getenv("ROTATE_EVERY"))
	}
	go rotate(every)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /gateway", handleGateway)
	addr := cmp.Or(os.Getenv("ADDR"), "127.0.0.1:8080")
	log.Printf("checkout gateway on %s, failing over every %v", addr, every)
	log.Fatal(http.ListenAndServe(addr, mux))
}
