// A checkout service's payment settings: GET /gateway?order=42 answers where the order's
// charge goes: the payment provider, its API endpoint, the merchant account there and the
// id of the key that signs the charge. Finance fails over between two providers (here a
// drill, every 2 ms: ROTATE_EVERY), and a rotator goroutine fetches the new provider's
// settings from the vault, one secret at a time.
//
// A wrong fix of lab 15: the handler copies the whole Gateway (g := *current()) before
// reading it, in the belief that a copy cannot change under it. The copy is made while
// the rotator rewrites the fields, so it is as torn as the original.
package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"os"
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

// Gateway is where charges go.
type Gateway struct {
	Provider string
	Endpoint string
	Account  string
	KeyID    string
	Failover int64 // how many failovers this process has seen
}

// gateway is the process-wide payment settings: made on first use, then updated in place
// by the rotator while every handler reads it.
var gateway *Gateway

// current returns the settings, making them on first use.
func current() *Gateway {
	if gateway == nil {
		gateway = &Gateway{}
		if err := gateway.switchTo("northpay"); err != nil {
			log.Fatal(err)
		}
	}
	return gateway
}

// switchTo points g at another provider, each setting as it arrives from the vault.
func (g *Gateway) switchTo(provider string) error {
	g.Provider = provider
	for _, key := range []string{"endpoint", "account", "key_id"} {
		value, err := fetchSecret(provider, key)
		if err != nil {
			return err
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
	g.Failover++
	return nil
}

// rotate fails over to the other provider every `every`.
func rotate(every time.Duration) {
	providers := []string{"northpay", "southpay"}
	for i := 1; ; i++ {
		time.Sleep(every)
		if err := current().switchTo(providers[i%2]); err != nil {
			log.Printf("failover: %v", err)
		}
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
	g := *current() // a copy of its own: the rotator cannot change it while we read
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
