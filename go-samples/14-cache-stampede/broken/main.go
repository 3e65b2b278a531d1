// Command broken is the lesson 14 product service: cache-aside on Redis in
// front of a slow PostgreSQL query, written the way it usually is first.
//
// A request looks in Redis; on a miss it asks the database and puts the answer
// back with one fixed TTL. Three things go wrong under load:
//
//   - breakdown: when a hot key expires, every request that misses it in the
//     next query time runs the same query (nothing makes them wait for one);
//   - penetration: an id that is not in the database is never cached, so every
//     request for it reaches the database;
//   - avalanche: keys cached together (the warm-up at start) all get the same
//     TTL, so they all expire in the same instant.
//
// And when the database goes away, every miss still goes to it and fails.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"expvar"
	"log"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"gopitfalls/samples/internal/pgdriver"
	"gopitfalls/samples/internal/resp"
	"gopitfalls/samples/internal/serve"
)

var (
	dbQueries   = expvar.NewInt("db_queries") // queries the service sent to PostgreSQL
	dbErrors    = expvar.NewInt("db_errors")  // of those, the ones that failed
	cacheHits   = expvar.NewInt("cache_hits")
	cacheMisses = expvar.NewInt("cache_misses")
)

type product struct {
	ID         int    `json:"id"`
	Name       string `json:"name"`
	PriceCents int    `json:"price_cents"`
}

// cache is what the service needs of Redis (a *resp.Client).
type cache interface {
	Get(ctx context.Context, key string) (string, bool, error)
	Set(ctx context.Context, key, value string, ttl time.Duration) error
}

// store is what it needs of PostgreSQL (a *pgStore): found is false for an id
// that is not in the database.
type store interface {
	product(ctx context.Context, id int) (p product, found bool, err error)
	featured(ctx context.Context, n int) ([]product, error)
}

type service struct {
	cache    cache
	db       store
	ttl      time.Duration // every key's time to live in Redis
	featured int           // the home page shows products 1..featured
}

func key(id int) string { return "product:" + strconv.Itoa(id) }

// product is cache-aside, as it is usually written.
func (s *service) product(ctx context.Context, id int) (product, bool, error) {
	if v, found, err := s.cache.Get(ctx, key(id)); err == nil && found {
		var p product
		if json.Unmarshal([]byte(v), &p) == nil {
			cacheHits.Add(1)
			return p, true, nil
		}
	}
	cacheMisses.Add(1)
	// Every request that misses asks the database itself, even when a thousand
	// others missed the same key a millisecond ago.
	p, found, err := s.db.product(ctx, id)
	if err != nil || !found {
		return p, found, err // an absent id is not cached: the next request asks again
	}
	b, _ := json.Marshal(p)
	if err := s.cache.Set(ctx, key(id), string(b), s.ttl); err != nil { // the same TTL for every key
		log.Printf("cache set %s: %v", key(id), err)
	}
	return p, true, nil
}

// warm caches the home page's products at start, in one query, all with the
// same TTL: they will all expire in the same instant.
func (s *service) warm(ctx context.Context) error {
	ps, err := s.db.featured(ctx, s.featured)
	if err != nil {
		return err
	}
	for _, p := range ps {
		b, _ := json.Marshal(p)
		if err := s.cache.Set(ctx, key(p.ID), string(b), s.ttl); err != nil {
			return err
		}
	}
	return nil
}

func (s *service) handleProduct(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil || id <= 0 {
		http.Error(w, "bad product id", http.StatusBadRequest)
		return
	}
	p, found, err := s.product(r.Context(), id)
	switch {
	case err != nil:
		http.Error(w, "database: "+err.Error(), http.StatusInternalServerError)
	case !found:
		http.Error(w, "no such product", http.StatusNotFound)
	default:
		writeJSON(w, p)
	}
}

// handleFeatured is the home page: products 1..featured, each read through the
// cache (concurrently, as a page's cards would be).
func (s *service) handleFeatured(w http.ResponseWriter, r *http.Request) {
	ps := make([]product, s.featured)
	errs := make([]error, s.featured)
	var wg sync.WaitGroup
	for i := range s.featured {
		wg.Go(func() { ps[i], _, errs[i] = s.product(r.Context(), i+1) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		http.Error(w, "database: "+err.Error(), http.StatusInternalServerError)
		return
	}
	writeJSON(w, ps)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// pgStore runs the product queries. The product query sleeps queryDelay in the
// database: it stands for the expensive query (joins, aggregates) that a cache
// is put in front of. The sleep is joined on the left, so that it runs for an
// absent id too (one row of NULLs): finding nothing costs the database as much.
type pgStore struct {
	db         *sql.DB
	queryDelay time.Duration
}

func (pg *pgStore) product(ctx context.Context, id int) (product, bool, error) {
	dbQueries.Add(1)
	var name sql.Null[string]
	var price sql.Null[int]
	err := pg.db.QueryRowContext(ctx,
		`SELECT p.name, p.price_cents FROM pg_sleep($2) LEFT JOIN products p ON p.id = $1`,
		id, pg.queryDelay.Seconds()).Scan(&name, &price)
	if err != nil {
		dbErrors.Add(1)
		return product{}, false, err
	}
	return product{ID: id, Name: name.V, PriceCents: price.V}, name.Valid, nil
}

func (pg *pgStore) featured(ctx context.Context, n int) ([]product, error) {
	dbQueries.Add(1)
	rows, err := pg.db.QueryContext(ctx, `SELECT id, name, price_cents FROM products WHERE id <= $1 ORDER BY id`, n)
	if err != nil {
		dbErrors.Add(1)
		return nil, err
	}
	defer rows.Close()
	var ps []product
	for rows.Next() {
		var p product
		if err := rows.Scan(&p.ID, &p.Name, &p.PriceCents); err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	return ps, rows.Err()
}

func newHandler(s *service) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /products/{id}", s.handleProduct)
	mux.HandleFunc("GET /featured", s.handleFeatured)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	return mux
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n >= 0 {
		return n
	}
	return def
}

func envMillis(name string, def int) time.Duration {
	return time.Duration(envInt(name, def)) * time.Millisecond
}

func main() {
	db, err := sql.Open(pgdriver.DriverName, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	// Pool limits as lesson 13 teaches: the stampede here is not about the pool.
	db.SetMaxOpenConns(32)
	db.SetMaxIdleConns(32)
	s := &service{
		cache:    resp.NewClient(os.Getenv("REDIS_ADDR"), 32),
		db:       &pgStore{db: db, queryDelay: envMillis("QUERY_MS", 100)},
		ttl:      envMillis("CACHE_TTL_MS", 3000),
		featured: max(envInt("FEATURED", 20), 1),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	if err := s.warm(ctx); err != nil {
		log.Printf("warm-up failed: %v", err)
	}
	cancel()
	log.Printf("cache TTL %v, %d featured products warmed", s.ttl, s.featured)
	if err := serve.Run(serve.Addr(), newHandler(s)); err != nil {
		log.Fatal(err)
	}
}
