// A shipping-quote service: GET /quote?kg=3 prices a parcel at PRICE_PER_KG euros a kilo,
// refuses parcels over MAX_WEIGHT_KG, and books it with the carrier at CARRIER_URL.
// POST /admin/reload takes KEY=VALUE lines (a price change pushed by the pricing team)
// over the environment's settings. GET /config shows the settings in effect; GET /healthz
// says whether the service is up.
//
// A wrong fix of lab 01: the settings are checked (the start exits 2 naming them, a bad
// reload is refused with 400), and a reload writes the package variables holding a
// sync.Mutex. But the quotes read them without it: a mutex only the writer takes orders
// nothing for the readers, and the race detector reports it.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The settings, written under mu by a reload.
var (
	mu          sync.Mutex
	carrierURL  string
	pricePerKg  = 1.20
	maxWeightKg = 30
)

// loadSettings reads and checks the settings through getenv, and puts them in effect only
// if every one is good; the error names every bad variable.
func loadSettings(getenv func(string) string) error {
	carrier, price, kg := getenv("CARRIER_URL"), 1.20, 30
	var problems []string
	if u, err := url.Parse(carrier); err != nil || u.Host == "" {
		problems = append(problems, fmt.Sprintf("CARRIER_URL=%q: want a URL with a host", carrier))
	}
	if v := getenv("PRICE_PER_KG"); v != "" {
		var err error
		if price, err = strconv.ParseFloat(v, 64); err != nil || !(price > 0) {
			problems = append(problems, fmt.Sprintf("PRICE_PER_KG=%q: want a number above 0", v))
		}
	}
	if v := getenv("MAX_WEIGHT_KG"); v != "" {
		var err error
		if kg, err = strconv.Atoi(v); err != nil || kg <= 0 {
			problems = append(problems, fmt.Sprintf("MAX_WEIGHT_KG=%q: want a whole number above 0", v))
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	mu.Lock()
	defer mu.Unlock()
	carrierURL, pricePerKg, maxWeightKg = carrier, price, kg
	return nil
}

// bookCarrier stands in for the carrier's booking API at base: a round trip of a
// millisecond or two.
func bookCarrier(ctx context.Context, base string, kg float64) (string, error) {
	select {
	case <-time.After(time.Millisecond):
	case <-ctx.Done():
		return "", ctx.Err()
	}
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("carrier: no host in CARRIER_URL %q", base)
	}
	return fmt.Sprintf("%s-%.1f", u.Host, kg), nil
}

type quote struct {
	Kg       float64 `json:"kg"`
	Price    float64 `json:"price"` // euros
	Currency string  `json:"currency"`
	Booking  string  `json:"booking"`
}

func handleQuote(w http.ResponseWriter, r *http.Request) {
	kg, err := strconv.ParseFloat(r.URL.Query().Get("kg"), 64)
	if err != nil || kg <= 0 {
		http.Error(w, "kg: want a weight above 0", http.StatusBadRequest)
		return
	}
	if kg > float64(maxWeightKg) {
		http.Error(w, fmt.Sprintf("over %d kg: we cannot ship it", maxWeightKg),
			http.StatusUnprocessableEntity)
		return
	}
	booking, err := bookCarrier(r.Context(), carrierURL, kg)
	if err != nil {
		log.Printf("quote: %v", err)
		http.Error(w, "carrier unavailable", http.StatusBadGateway)
		return
	}
	price := math.Round(pricePerKg*kg*100) / 100
	writeJSON(w, quote{Kg: kg, Price: price, Currency: "EUR", Booking: booking})
}

func handleConfig(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, map[string]any{"carrier_url": carrierURL, "price_per_kg": pricePerKg,
		"max_weight_kg": maxWeightKg})
}

// handleReload applies a push over the environment's settings, if every one is good.
func handleReload(w http.ResponseWriter, r *http.Request) {
	pushed, err := parsePush(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if err := loadSettings(func(key string) string {
		if v, ok := pushed[key]; ok {
			return v
		}
		return os.Getenv(key)
	}); err != nil {
		http.Error(w, "reload refused: "+err.Error(), http.StatusBadRequest)
		return
	}
	fmt.Fprintln(w, "reloaded")
}

// parsePush reads KEY=VALUE lines; blank lines and lines starting with # are skipped.
func parsePush(r io.Reader) (map[string]string, error) {
	settings := map[string]string{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("want KEY=VALUE, got %q", line)
		}
		settings[strings.TrimSpace(key)] = strings.TrimSpace(value)
	}
	return settings, sc.Err()
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func main() {
	if err := loadSettings(os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "shipping: invalid configuration:", err)
		os.Exit(2)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /quote", handleQuote)
	mux.HandleFunc("GET /config", handleConfig)
	mux.HandleFunc("POST /admin/reload", handleReload)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	log.Printf("shipping quotes on %s", addr)
	log.Fatal(http.ListenAndServe(addr, mux))
}
