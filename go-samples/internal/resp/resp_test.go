package resp

// Tests against a real Redis: GOPITFALLS_REDIS_ADDR names it (the Python test
// tests/test_go_clients.py starts one and sets it). Without it these tests
// skip, so a plain `go test ./...` passes; TestReadReply needs no server.

import (
	"bufio"
	"context"
	"errors"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func client(t *testing.T, poolSize int) *Client {
	t.Helper()
	addr := os.Getenv("GOPITFALLS_REDIS_ADDR")
	if addr == "" {
		t.Skip("GOPITFALLS_REDIS_ADDR is not set: it is set by tests/test_go_clients.py, which starts the servers")
	}
	c := NewClient(addr, poolSize)
	t.Cleanup(func() { c.Close() })
	return c
}

// key makes the test's keys its own.
func key(t *testing.T, name string) string { return "resp-test:" + t.Name() + ":" + name }

// connID is the server's id of the connection a command ran on.
func connID(t *testing.T, c *Client) int64 {
	t.Helper()
	id, err := asInt(c.Do(context.Background(), "CLIENT", "ID"))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestGetSetDel(t *testing.T) {
	c := client(t, 2)
	ctx := context.Background()
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	k := key(t, "k")
	c.Del(ctx, k)
	if v, found, err := c.Get(ctx, k); found || err != nil || v != "" {
		t.Fatalf("missing key: %q, %v, %v", v, found, err)
	}
	value := "any bytes: \r\n$3\r\n\x00 é"
	if err := c.Set(ctx, k, value, 0); err != nil {
		t.Fatal(err)
	}
	if v, found, err := c.Get(ctx, k); !found || err != nil || v != value {
		t.Fatalf("got %q, %v, %v", v, found, err)
	}
	if n, err := c.Del(ctx, k, key(t, "never-set")); n != 1 || err != nil {
		t.Fatalf("del: %d, %v", n, err)
	}
	if v, err := c.Do(ctx, "GET", k); v != nil || err != nil {
		t.Fatalf("GET of a deleted key: %#v, %v", v, err)
	}
}

func TestExpiry(t *testing.T) {
	c := client(t, 1)
	ctx := context.Background()
	k := key(t, "k")
	c.Set(ctx, k, "v", 10*time.Second) // EX
	if ttl, err := c.TTL(ctx, k); err != nil || ttl < 9*time.Second || ttl > 10*time.Second {
		t.Fatalf("ttl %v, %v", ttl, err)
	}
	c.Set(ctx, k, "v", 0) // a plain SET removes the expiry
	if ttl, _ := c.TTL(ctx, k); ttl != NoExpiry {
		t.Fatalf("ttl without expiry: %v", ttl)
	}
	if ok, err := c.Expire(ctx, k, 100*time.Millisecond); !ok || err != nil { // PEXPIRE
		t.Fatalf("expire: %v, %v", ok, err)
	}
	c.Set(ctx, key(t, "px"), "v", 150*time.Millisecond) // PX
	time.Sleep(300 * time.Millisecond)
	for _, k := range []string{k, key(t, "px")} {
		if _, found, _ := c.Get(ctx, k); found {
			t.Errorf("%s has not expired", k)
		}
		if ttl, _ := c.TTL(ctx, k); ttl != NoKey {
			t.Errorf("ttl of an expired key: %v", ttl)
		}
	}
	if ok, err := c.Expire(ctx, k, time.Second); ok || err != nil {
		t.Fatalf("expire of a missing key: %v, %v", ok, err)
	}
}

func TestSetNX(t *testing.T) {
	c := client(t, 8)
	ctx := context.Background()
	k := key(t, "lock")
	c.Del(ctx, k)
	var wins sync.WaitGroup
	won := make(chan string, 20)
	for i := range 20 {
		wins.Add(1)
		go func() {
			defer wins.Done()
			me := string(rune('a' + i))
			if ok, err := c.SetNX(ctx, k, me, time.Minute); err != nil {
				t.Error(err)
			} else if ok {
				won <- me
			}
		}()
	}
	wins.Wait()
	close(won)
	var winners []string
	for w := range won {
		winners = append(winners, w)
	}
	if v, _, _ := c.Get(ctx, k); len(winners) != 1 || v != winners[0] {
		t.Fatalf("winners %v, value %q", winners, v)
	}
	if ttl, _ := c.TTL(ctx, k); ttl <= 0 {
		t.Fatalf("SetNX with a ttl left no expiry: %v", ttl)
	}
}

func TestIncrMGetAndServerErrors(t *testing.T) {
	c := client(t, 1)
	ctx := context.Background()
	n, s := key(t, "n"), key(t, "s")
	c.Del(ctx, n, s)
	for want := int64(1); want <= 3; want++ {
		if got, err := c.Incr(ctx, n); got != want || err != nil {
			t.Fatalf("incr: %d, %v, want %d", got, err, want)
		}
	}
	c.Set(ctx, s, "text", 0)
	vals, err := c.MGet(ctx, n, key(t, "missing"), s)
	if err != nil || len(vals) != 3 || vals[0] == nil || *vals[0] != "3" || vals[1] != nil || vals[2] == nil || *vals[2] != "text" {
		t.Fatalf("mget: %v, %v", vals, err)
	}

	// Error replies are *Error, and cost no connection.
	id := connID(t, c)
	var e *Error
	if _, err := c.Incr(ctx, s); !errors.As(err, &e) || !strings.HasPrefix(e.Message, "ERR value is not an integer") {
		t.Fatalf("incr of text: %v", err)
	}
	if _, err := c.Do(ctx, "LPUSH", s, "x"); !errors.As(err, &e) || !strings.HasPrefix(e.Message, "WRONGTYPE") {
		t.Fatalf("lpush on a string: %v", err)
	}
	if _, err := c.Do(ctx, "NOSUCHCOMMAND"); !errors.As(err, &e) {
		t.Fatalf("unknown command: %v", err)
	}
	if connID(t, c) != id {
		t.Fatal("an error reply cost the connection")
	}
	if _, err := c.Do(ctx, "SET", s, struct{}{}); err == nil {
		t.Fatal("an argument of an unknown type: no error")
	}
}

func TestFlushDB(t *testing.T) {
	c := client(t, 1)
	ctx := context.Background()
	c.Set(ctx, key(t, "k"), "v", 0)
	if err := c.FlushDB(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := asInt(c.Do(ctx, "DBSIZE")); n != 0 || err != nil {
		t.Fatalf("dbsize after flushdb: %d, %v", n, err)
	}
}

// Many goroutines share one client: no lost update, and never more
// connections than the pool allows.
func TestConcurrentUse(t *testing.T) {
	const pool, workers, each = 4, 32, 50
	c := client(t, pool)
	ctx := context.Background()
	k := key(t, "n")
	c.Del(ctx, k)
	var mu sync.Mutex
	ids := map[int64]bool{}
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				if _, err := c.Incr(ctx, k); err != nil {
					t.Error(err)
					return
				}
			}
			id, _ := asInt(c.Do(ctx, "CLIENT", "ID"))
			mu.Lock()
			ids[id] = true
			mu.Unlock()
		}()
	}
	wg.Wait()
	if v, _, _ := c.Get(ctx, k); v != "1600" || len(ids) > pool {
		t.Fatalf("counter %s, want 1600; %d connections for a pool of %d", v, len(ids), pool)
	}
}

// A command whose context ends returns at once, and its connection (whose
// reply may still come) is replaced, not reused.
func TestContextCancel(t *testing.T) {
	c := client(t, 1)
	list := key(t, "empty-list")
	c.Del(context.Background(), list)
	id := connID(t, c)

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Do(ctx, "BLPOP", list, 5) // blocks on the server for 5 s
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > time.Second {
		t.Fatalf("got %v after %v", err, time.Since(start))
	}
	if got := connID(t, c); got == id {
		t.Fatal("the connection of the cancelled command was reused")
	}

	// Waiting for a pool slot is bounded by the context too.
	busy := make(chan error)
	go func() {
		_, err := c.Do(context.Background(), "BLPOP", list, 1)
		busy <- err
	}()
	time.Sleep(100 * time.Millisecond)
	ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start = time.Now()
	if err := c.Ping(ctx); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 500*time.Millisecond {
		t.Fatalf("ping while the only connection is busy: %v after %v", err, time.Since(start))
	}
	if err := <-busy; err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := c.Ping(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

func TestReadReply(t *testing.T) {
	in := "+OK\r\n-ERR bad\r\n:-7\r\n$5\r\na\r\nbc\r\n$-1\r\n*-1\r\n*3\r\n:1\r\n*1\r\n$0\r\n\r\n-WRONGTYPE x\r\n$9\r\nshort\r\n"
	br := bufio.NewReader(strings.NewReader(in))
	want := []any{"OK", &Error{"ERR bad"}, int64(-7), "a\r\nbc", nil, nil, []any{int64(1), []any{""}, &Error{"WRONGTYPE x"}}}
	for i, w := range want {
		got, err := readReply(br)
		if e, ok := err.(*Error); ok {
			got = e
		} else if err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
		if !reflect.DeepEqual(got, w) {
			t.Fatalf("reply %d: got %#v, want %#v", i, got, w)
		}
	}
	if _, err := readReply(br); err == nil {
		t.Fatal("a truncated bulk string: no error")
	}
	if b, _ := encode([]any{"SET", "k", []byte("v\r\n"), 42}); string(b) != "*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\nv\r\n\r\n$2\r\n42\r\n" {
		t.Fatalf("encode: %q", b)
	}
}
