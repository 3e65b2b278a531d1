// A shipping-quote service: GET /quote?kg=3 prices a parcel at PRICE_PER_KG euros a kilo,
// refuses parcels over MAX_WEIGHT_KG, and books it with the carrier at CARRIER_URL.
// POST /admin/reload takes KEY=VALUE lines (a price change pushed by the pricing team)
// over the environment's settings. GET /config shows the settings in effect; GET /healthz
// says whether the service is up.
//
// A wrong fix of lab 01: a bad value is no longer 0; it is logged as a warning and the
// default is kept, and the service starts. A typo in a rollout still starts a service
// that answers /healthz ok, with settings nobody chose (and no carrier at all).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// The settings.
var (
	carrierURL  string
	pricePerKg  = 1.20
	maxWeightKg = 30
)

func init() { loadSettings(os.Getenv) }

// loadSettings reads the settings through getenv.
// becomes 0, and nothing checks that the values make sense.
func loadSettings(getenv func(string) string) {
	carrierURL = getenv("CARRIER_URL")
	if carrierURL == "" {
		log.Printf("warning: CARRIER_URL is not set")
	}
	if v := getenv("PRICE_PER_KG"); v != "" {
		if price, err := strconv.ParseFloat(v, 64); err == nil && price > 0 {
			pricePerKg = price
		} else {
			log.Printf("warning: PRICE_PER_KG=%q, keeping %.2f", v, pricePerKg)
		}
	}
	if v := getenv("MAX_WEIGHT_KG"); v != "" {
		if kg, err := strconv.Atoi(v); err == nil && kg > 0 {
			maxWeightKg = kg
		} else {
			log.Printf("warning: MAX_WEIGHT_KG=%q, keeping %d", v, maxWeightKg)
		}
	}
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

// handleReload applies a push over the environment's settings.
func handleReload(w http.ResponseWriter, r *http.Request) {
	pushed, err := parsePush(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	loadSettings(func(key string) string {
		if v, ok := pushed[key]; ok {
			return v
		}
		return os.Getenv(key)
	})
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
