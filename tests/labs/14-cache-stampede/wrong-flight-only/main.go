// Wrong fix of lab 14: the misses of one moment share one computation (singleflight),
// but nothing is cached for a city that does not exist: every 100 ms another query for
// it goes out.
package main

import (
	"context"
	"database/sql"
	"log"
	"net/http"
	"os"
	"strconv"
	"time"

	_ "gopitfalls/samples/internal/pgdriver" // the course's PostgreSQL driver, "pgteach"
	"gopitfalls/samples/internal/resp"       // the course's Redis client
	"gopitfalls/samples/internal/singleflight"
)

// forecastTTL is how long a forecast stays in Redis: the weather changes.
const forecastTTL = 1500 * time.Millisecond

// result is what one computation found.
type result struct {
	forecast string
	found    bool
}

type weather struct {
	cache  *resp.Client
	db     *sql.DB
	flight singleflight.Group[result] // one computation per key at a time
}

func cacheKey(city int) string { return "forecast:" + strconv.Itoa(city) }

// compute asks the database for a city's forecast; found is false for an unknown city.
func (s *weather) compute(ctx context.Context, city int) (forecast string, found bool, err error) {
	var f sql.NullString
	if err := s.db.QueryRowContext(ctx, `SELECT compute_forecast($1)`, city).Scan(&f); err != nil {
		return "", false, err
	}
	return f.String, f.Valid, nil
}

// forecast is cache-aside: Redis first, then one computation per key for all the
// requests that miss it at the same moment.
func (s *weather) forecast(ctx context.Context, city int) (string, bool, error) {
	key := cacheKey(city)
	if v, ok, err := s.cache.Get(ctx, key); err == nil && ok {
		return v, true, nil
	}
	// The first request to miss computes; those that miss meanwhile wait for its result.
	r, err, _ := s.flight.DoContext(ctx, key, func(ctx context.Context) (result, error) {
		f, found, err := s.compute(ctx, city)
		if err != nil {
			return result{}, err
		}
		if found {
			if err := s.cache.Set(ctx, key, f, forecastTTL); err != nil {
				log.Printf("cache set: %v", err)
			}
		}
		return result{f, found}, nil
	})
	if err != nil {
		return "", false, err
	}
	return r.forecast, r.found, nil
}

func (s *weather) handleForecast(w http.ResponseWriter, r *http.Request) {
	city, err := strconv.Atoi(r.PathValue("city"))
	if err != nil || city <= 0 {
		http.Error(w, "bad city id", http.StatusBadRequest)
		return
	}
	f, found, err := s.forecast(r.Context(), city)
	switch {
	case err != nil:
		log.Printf("forecast %d: %v", city, err)
		http.Error(w, "forecast unavailable", http.StatusServiceUnavailable)
	case !found:
		http.Error(w, "no such city", http.StatusNotFound)
	default:
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(f + "\n"))
	}
}

func main() {
	db, err := sql.Open("pgteach", os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	db.SetMaxOpenConns(32) // sized as lesson 13 teaches: the pool is not the problem here
	db.SetMaxIdleConns(32)
	s := &weather{cache: resp.NewClient(os.Getenv("REDIS_ADDR"), 32), db: db}

	// The capital's forecast is computed at start, so the first visitors hit the cache.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	if _, _, err := s.forecast(ctx, 1); err != nil {
		log.Printf("warm-up: %v", err)
	}
	cancel()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /forecast/{city}", s.handleForecast)
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	log.Printf("listening on %s", addr)
	log.Fatal(http.ListenAndServe(addr, mux))
}
