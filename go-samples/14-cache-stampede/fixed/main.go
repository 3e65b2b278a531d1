// Command fixed is the lesson 14 product service after the three-step fix,
// still cache-aside on Redis in front of a slow PostgreSQL query:
//
//  1. coalescing and TTL jitter: requests that miss the same key wait for one
//     query (internal/singleflight), and every TTL is spread by ±20 %, so keys
//     cached together do not expire together;
//  2. negative caching: "no such product" is cached too, for a shorter TTL;
//  3. a breaker and a stale copy: after a run of database failures the service
//     stops asking the database for a while and answers from the last good
//     copy it kept in memory.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"expvar"
	"log"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"gopitfalls/samples/internal/pgdriver"
	"gopitfalls/samples/internal/resp"
	"gopitfalls/samples/internal/serve"
	"gopitfalls/samples/internal/singleflight"
)

var (
	dbQueries   = expvar.NewInt("db_queries") // queries the service sent to PostgreSQL
	dbErrors    = expvar.NewInt("db_errors")  // of those, the ones that failed
	cacheHits   = expvar.NewInt("cache_hits")
	cacheMisses = expvar.NewInt("cache_misses")
	coalesced   = expvar.NewInt("coalesced")     // misses answered by another request's query
	negHits     = expvar.NewInt("negative_hits") // hits on a cached "no such product"
	staleServed = expvar.NewInt("stale_served")  // answers from the in-memory copy
	rejected    = expvar.NewInt("breaker_rejected")
)

// notFound is what Redis holds for an id the database does not have.
const notFound = "-"

// queryTimeout bounds one product query: a database that takes longer is
// failing, as far as the breaker is concerned.
const queryTimeout = time.Second

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
	cache       cache
	db          store
	ttl         time.Duration // a product's time to live in Redis, before jitter
	negativeTTL time.Duration // the same for "no such product": shorter
	featured    int           // the home page shows products 1..featured

	flight  singleflight.Group[lookup] // one query per key at a time
	breaker *breaker
	stale   staleCache
}

// lookup is what one product query found.
type lookup struct {
	p     product
	found bool
}

// jitter spreads a TTL uniformly over ±20 %, so that keys set together expire
// over a window instead of in one instant.
func jitter(ttl time.Duration) time.Duration {
	return ttl - ttl/5 + rand.N(2*ttl/5+1)
}

func key(id int) string { return "product:" + strconv.Itoa(id) }

// product is cache-aside with the three steps of the fix.
func (s *service) product(ctx context.Context, id int) (product, bool, error) {
	if v, found, err := s.cache.Get(ctx, key(id)); err == nil && found {
		if v == notFound { // step 2: the database already said no
			cacheHits.Add(1)
			negHits.Add(1)
			return product{}, false, nil
		}
		var p product
		if json.Unmarshal([]byte(v), &p) == nil {
			cacheHits.Add(1)
			s.stale.put(p)
			return p, true, nil
		}
	}
	cacheMisses.Add(1)
	// Step 1: of all the requests that miss this key now, one runs the query
	// and the others wait for its answer. Each waits only as long as its own
	// client does; the query goes on for the rest.
	var ran atomic.Bool
	l, err, _ := s.flight.DoContext(ctx, key(id), func(ctx context.Context) (lookup, error) {
		ran.Store(true)
		return s.load(ctx, id)
	})
	if err == nil && !ran.Load() {
		coalesced.Add(1)
	}
	if err != nil {
		// Step 3: the database failed or the breaker is open: a copy that is a
		// few seconds old beats an error page.
		if p, ok := s.stale.get(id); ok {
			staleServed.Add(1)
			return p, true, nil
		}
		return product{}, false, err
	}
	return l.p, l.found, nil
}

// load asks the database (unless the breaker says not to) and caches what it
// found, "not found" included, each with a jittered TTL.
func (s *service) load(ctx context.Context, id int) (lookup, error) {
	if !s.breaker.allow() {
		rejected.Add(1)
		return lookup{}, errBreakerOpen
	}
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	p, found, err := s.db.product(ctx, id)
	s.breaker.record(err)
	if err != nil {
		return lookup{}, err
	}
	value, ttl := notFound, jitter(s.negativeTTL) // step 2
	if found {
		b, _ := json.Marshal(p)
		value, ttl = string(b), jitter(s.ttl) // step 1: no two keys expire together
		s.stale.put(p)
	}
	if err := s.cache.Set(ctx, key(id), value, ttl); err != nil {
		log.Printf("cache set %s: %v", key(id), err)
	}
	return lookup{p, found}, nil
}

// warm caches the home page's products at start, in one query, each with a
// jittered TTL: they expire over a window, not all at once.
func (s *service) warm(ctx context.Context) error {
	ps, err := s.db.featured(ctx, s.featured)
	if err != nil {
		return err
	}
	for _, p := range ps {
		b, _ := json.Marshal(p)
		if err := s.cache.Set(ctx, key(p.ID), string(b), jitter(s.ttl)); err != nil {
			return err
		}
		s.stale.put(p)
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
		http.Error(w, "database unavailable: "+err.Error(), http.StatusServiceUnavailable)
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
		http.Error(w, "database unavailable: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	writeJSON(w, ps)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// errBreakerOpen is the answer of a query the breaker did not let through.
var errBreakerOpen = errors.New("breaker open: the database failed repeatedly, not asking it for now")

// breaker stops the queries to a database that keeps failing. Closed, it lets
// every query through and counts failures in a row; at threshold it opens and
// refuses every query for cooldown; then it lets one query through (half-open):
// success closes it, failure opens it again.
type breaker struct {
	threshold int
	cooldown  time.Duration

	mu        sync.Mutex
	failures  int       // in a row
	openUntil time.Time // while open
	probing   bool      // half-open: the one trial query is out
}

// The breaker's states, as expvar breaker_state shows them.
const (
	closed   = 0
	open     = 1
	halfOpen = 2
)

func (b *breaker) allow() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state() {
	case closed:
		return true
	case halfOpen:
		if !b.probing {
			b.probing = true
			return true
		}
	}
	return false
}

func (b *breaker) record(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.probing = false
	if err == nil {
		b.failures = 0
		return
	}
	b.failures++
	if b.failures >= b.threshold {
		b.openUntil = time.Now().Add(b.cooldown)
	}
}

// state is called with mu held.
func (b *breaker) state() int {
	switch {
	case b.failures < b.threshold:
		return closed
	case time.Now().Before(b.openUntil):
		return open
	}
	return halfOpen
}

func (b *breaker) State() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state()
}

// staleCache keeps the last good copy of each product in memory, for when the
// database cannot be asked. It is bounded: past max products it keeps
// refreshing those it has and adds no more.
type staleCache struct {
	mu  sync.Mutex
	m   map[int]product
	max int
}

func (c *staleCache) put(p product) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[int]product{}
	}
	if _, ok := c.m[p.ID]; ok || len(c.m) < c.max {
		c.m[p.ID] = p
	}
}

func (c *staleCache) get(id int) (product, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.m[id]
	return p, ok
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
		cache:       resp.NewClient(os.Getenv("REDIS_ADDR"), 32),
		db:          &pgStore{db: db, queryDelay: envMillis("QUERY_MS", 100)},
		ttl:         envMillis("CACHE_TTL_MS", 3000),
		negativeTTL: envMillis("NEGATIVE_TTL_MS", 2000),
		featured:    max(envInt("FEATURED", 20), 1),
		// Five failures in a row open it; it tries again after half a second.
		breaker: &breaker{threshold: 5, cooldown: 500 * time.Millisecond},
		stale:   staleCache{max: 10000},
	}
	expvar.Publish("breaker_state", expvar.Func(func() any { return s.breaker.State() }))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	if err := s.warm(ctx); err != nil {
		log.Printf("warm-up failed: %v", err)
	}
	cancel()
	log.Printf("cache TTL %v ±20 %%, not-found TTL %v, %d featured products warmed", s.ttl, s.negativeTTL, s.featured)
	if err := serve.Run(serve.Addr(), newHandler(s)); err != nil {
		log.Fatal(err)
	}
}
