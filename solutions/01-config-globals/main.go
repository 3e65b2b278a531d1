// A shipping-quote service: GET /quote?kg=3 prices a parcel at PRICE_PER_KG euros a kilo,
// refuses parcels over MAX_WEIGHT_KG, and books it with the carrier at CARRIER_URL.
// POST /admin/reload takes KEY=VALUE lines (a price change pushed by the pricing team)
// over the environment's settings. GET /config shows the settings in effect; GET /healthz
// says whether the service is up.
//
// The reference answer of lab 01:
//   - loadSettings parses and validates every setting into a Settings value and returns
//     every problem at once; main exits with status 2 and one line naming them before it
//     listens;
//   - a reload loads a whole new Settings from the push over the environment; a bad one is
//     refused with 400 and nothing changes, a good one replaces the old in one atomic
//     Store; each request Loads one snapshot and reads every setting from it.
//
// See NOTES.md.
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
	"sync/atomic"
	"time"
)

// Settings is the service's configuration. One is never modified once loaded.
type Settings struct {
	CarrierURL  string
	PricePerKg  float64
	MaxWeightKg int
}

// settings holds the Settings in effect, replaced whole by a reload.
var settings atomic.Pointer[Settings]

// loadSettings reads the settings through getenv, applies the defaults and validates
// them; the error names every bad variable.
func loadSettings(getenv func(string) string) (*Settings, error) {
	s := &Settings{CarrierURL: getenv("CARRIER_URL"), PricePerKg: 1.20, MaxWeightKg: 30}
	var problems []error
	if u, err := url.Parse(s.CarrierURL); err != nil || u.Host == "" {
		problems = append(problems, fmt.Errorf("CARRIER_URL=%q: want a URL with a host",
			s.CarrierURL))
	}
	if v := getenv("PRICE_PER_KG"); v != "" {
		price, err := strconv.ParseFloat(v, 64)
		if err != nil || !(price > 0) || math.IsInf(price, 0) {
			problems = append(problems, fmt.Errorf("PRICE_PER_KG=%q: want a number above 0", v))
		}
		s.PricePerKg = price
	}
	if v := getenv("MAX_WEIGHT_KG"); v != "" {
		kg, err := strconv.Atoi(v)
		if err != nil || kg <= 0 {
			problems = append(problems, fmt.Errorf("MAX_WEIGHT_KG=%q: want a whole number "+
				"above 0", v))
		}
		s.MaxWeightKg = kg
	}
	if err := errors.Join(problems...); err != nil {
		return nil, errors.New(strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	return s, nil
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
	s := settings.Load() // one snapshot: the whole quote uses the same settings
	kg, err := strconv.ParseFloat(r.URL.Query().Get("kg"), 64)
	if err != nil || kg <= 0 {
		http.Error(w, "kg: want a weight above 0", http.StatusBadRequest)
		return
	}
	if kg > float64(s.MaxWeightKg) {
		http.Error(w, fmt.Sprintf("over %d kg: we cannot ship it", s.MaxWeightKg),
			http.StatusUnprocessableEntity)
		return
	}
	booking, err := bookCarrier(r.Context(), s.CarrierURL, kg)
	if err != nil {
		log.Printf("quote: %v", err)
		http.Error(w, "carrier unavailable", http.StatusBadGateway)
		return
	}
	price := math.Round(s.PricePerKg*kg*100) / 100
	writeJSON(w, quote{Kg: kg, Price: price, Currency: "EUR", Booking: booking})
}

func handleConfig(w http.ResponseWriter, r *http.Request) {
	s := settings.Load()
	writeJSON(w, map[string]any{"carrier_url": s.CarrierURL, "price_per_kg": s.PricePerKg,
		"max_weight_kg": s.MaxWeightKg})
}

// handleReload loads a whole new Settings from the push over the environment, and puts it
// in effect only if every setting is good.
func handleReload(w http.ResponseWriter, r *http.Request) {
	pushed, err := parsePush(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	next, err := loadSettings(func(key string) string {
		if v, ok := pushed[key]; ok {
			return v
		}
		return os.Getenv(key)
	})
	if err != nil {
		http.Error(w, "reload refused, nothing changed: "+err.Error(), http.StatusBadRequest)
		return
	}
	settings.Store(next)
	fmt.Fprintln(w, "reloaded")
}

// parsePush reads KEY=VALUE lines; blank lines and lines starting with # are skipped.
func parsePush(r io.Reader) (map[string]string, error) {
	pushed := map[string]string{}
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
		pushed[strings.TrimSpace(key)] = strings.TrimSpace(value)
	}
	return pushed, sc.Err()
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func main() {
	s, err := loadSettings(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "shipping: invalid configuration:", err)
		os.Exit(2) // before listening: a rollout sees the start fail
	}
	settings.Store(s)
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
