package main

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// memCache is a map standing in for Redis (TTLs ignored).
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

// slowStore is the database: each query takes delay; ids up to 100 exist.
type slowStore struct {
	delay   time.Duration
	queries atomic.Int64
}

func (s *slowStore) product(_ context.Context, id int) (product, bool, error) {
	s.queries.Add(1)
	time.Sleep(s.delay)
	return product{ID: id, Name: "p"}, id <= 100, nil
}

func (s *slowStore) featured(context.Context, int) ([]product, error) { return nil, nil }

// The bug, shown: fifty requests that miss the same key at once each send the
// same query.
func TestEveryMissQueries(t *testing.T) {
	db := &slowStore{delay: 50 * time.Millisecond}
	s := &service{cache: &memCache{}, db: db, ttl: time.Minute}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			<-start
			s.product(context.Background(), 1)
		})
	}
	close(start)
	wg.Wait()
	if n := db.queries.Load(); n < 40 {
		t.Fatalf("50 concurrent misses sent %d queries; the broken service sends one each", n)
	}
}

// The bug, shown: an absent id is asked for every time.
func TestAbsentIdsAreNeverCached(t *testing.T) {
	db := &slowStore{}
	s := &service{cache: &memCache{}, db: db, ttl: time.Minute}
	for range 10 {
		s.product(context.Background(), 999)
	}
	if n := db.queries.Load(); n != 10 {
		t.Fatalf("10 requests for an absent id sent %d queries, want 10", n)
	}
}
