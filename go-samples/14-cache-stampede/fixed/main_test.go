package main

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// memCache is a map standing in for Redis (TTLs ignored; Del empties a key).
type memCache struct {
	mu sync.Mutex
	m  map[string]string
}

func (c *memCache) Get(_ context.Context, key string) (string, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[key]
	return v, ok, nil
}

func (c *memCache) Set(_ context.Context, key, value string, _ time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]string{}
	}
	c.m[key] = value
	return nil
}

func (c *memCache) del(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, key)
}

// slowStore is the database: each query takes delay, ids up to 100 exist, and
// while failing is set every query fails.
type slowStore struct {
	delay   time.Duration
	queries atomic.Int64
	failing atomic.Bool
}

func (s *slowStore) product(ctx context.Context, id int) (product, bool, error) {
	s.queries.Add(1)
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
		return product{}, false, ctx.Err()
	}
	if s.failing.Load() {
		return product{}, false, errors.New("connection refused")
	}
	return product{ID: id, Name: "p"}, id <= 100, nil
}

func (s *slowStore) featured(context.Context, int) ([]product, error) { return nil, nil }

func newTestService(db store) (*service, *memCache) {
	c := &memCache{}
	return &service{cache: c, db: db, ttl: time.Minute, negativeTTL: time.Second, featured: 1,
		breaker: &breaker{threshold: 5, cooldown: 100 * time.Millisecond},
		stale:   staleCache{max: 100}}, c
}

// Step 1: fifty requests missing the same key at once send one query.
func TestMissesOfOneKeyAreCoalesced(t *testing.T) {
	db := &slowStore{delay: 50 * time.Millisecond}
	s, _ := newTestService(db)
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if _, found, err := s.product(context.Background(), 1); err != nil || !found {
				t.Errorf("product 1: found %v, err %v", found, err)
			}
		})
	}
	wg.Wait()
	if n := db.queries.Load(); n != 1 {
		t.Fatalf("50 concurrent misses of one key sent %d queries, want 1", n)
	}
}

// Step 1: TTLs are spread over ±20 %, not all equal.
func TestJitterSpreadsTTLs(t *testing.T) {
	lo, hi := time.Hour, time.Duration(0)
	for range 1000 {
		d := jitter(10 * time.Second)
		if d < 8*time.Second || d > 12*time.Second {
			t.Fatalf("jitter(10s) = %v, outside [8s, 12s]", d)
		}
		lo, hi = min(lo, d), max(hi, d)
	}
	if hi-lo < 3*time.Second {
		t.Fatalf("1000 jittered TTLs span only %v", hi-lo)
	}
}

// Step 2: an id the database does not have is asked for once, then answered
// from the cache.
func TestNotFoundIsCached(t *testing.T) {
	db := &slowStore{delay: time.Millisecond}
	s, _ := newTestService(db)
	for range 10 {
		if _, found, err := s.product(context.Background(), 999); err != nil || found {
			t.Fatalf("product 999: found %v, err %v", found, err)
		}
	}
	if n := db.queries.Load(); n != 1 {
		t.Fatalf("10 requests for an absent id sent %d queries, want 1", n)
	}
}

// Step 3: with the database failing, the breaker opens after 5 failures, the
// last good copy is served, and after the cooldown one trial query goes out.
func TestBreakerServesStale(t *testing.T) {
	db := &slowStore{delay: time.Millisecond}
	s, c := newTestService(db)
	if _, _, err := s.product(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	db.failing.Store(true)
	c.del(key(1)) // expired in Redis while the database is down
	for i := range 50 {
		p, found, err := s.product(context.Background(), 1)
		if err != nil || !found || p.ID != 1 {
			t.Fatalf("request %d while the database is down: %v %v %v, want the stale copy", i, p, found, err)
		}
	}
	if n := db.queries.Load(); n != 1+5 {
		t.Fatalf("queries: %d, want 1 + 5 (the breaker opens after 5 failures)", n)
	}
	if st := s.breaker.State(); st != open {
		t.Fatalf("breaker state %d, want open (%d)", st, open)
	}
	if _, _, err := s.product(context.Background(), 2); !errors.Is(err, errBreakerOpen) {
		t.Fatalf("a product with no stale copy: %v, want errBreakerOpen", err)
	}
	time.Sleep(150 * time.Millisecond) // past the cooldown: half-open
	db.failing.Store(false)
	if _, found, err := s.product(context.Background(), 2); err != nil || !found {
		t.Fatalf("after the cooldown: found %v, err %v", found, err)
	}
	if st := s.breaker.State(); st != closed {
		t.Fatalf("breaker state %d after a good trial query, want closed", st)
	}
}
