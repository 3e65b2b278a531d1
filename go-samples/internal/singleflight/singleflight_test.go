package singleflight

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// waitForCallers blocks until n callers are on the call for key, so a test
// knows every goroutine has joined before it lets fn return.
func waitForCallers[V any](t *testing.T, g *Group[V], key string, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		g.mu.Lock()
		c := g.calls[key]
		joined := c != nil && c.callers == n
		g.mu.Unlock()
		if joined {
			return
		}
	}
	t.Fatalf("%d callers never joined the call for %q", n, key)
}

func TestConcurrentCallersShareOneCall(t *testing.T) {
	const n = 50
	var g Group[int]
	var runs atomic.Int32
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err, shared := g.Do("k", func() (int, error) {
				runs.Add(1)
				<-release
				return 42, nil
			})
			if v != 42 || err != nil || !shared {
				t.Errorf("got %d, %v, shared=%v", v, err, shared)
			}
		}()
	}
	waitForCallers(t, &g, "k", n)
	close(release)
	wg.Wait()
	if runs.Load() != 1 {
		t.Fatalf("fn ran %d times for %d concurrent callers", runs.Load(), n)
	}
	// Not a cache: once the call is over, the next caller runs fn again.
	if v, _, shared := g.Do("k", func() (int, error) { return 7, nil }); v != 7 || shared {
		t.Fatalf("a later call got %d, shared=%v", v, shared)
	}
}

func TestErrorIsShared(t *testing.T) {
	var g Group[string]
	boom := errors.New("database down")
	release := make(chan struct{})
	errs := make(chan error, 3)
	for range 3 {
		go func() {
			_, err, _ := g.Do("k", func() (string, error) { <-release; return "", boom })
			errs <- err
		}()
	}
	waitForCallers(t, &g, "k", 3)
	close(release)
	for range 3 {
		if err := <-errs; err != boom {
			t.Fatalf("got %v", err)
		}
	}
}

func TestKeysAreIndependent(t *testing.T) {
	var g Group[string]
	release := make(chan struct{})
	defer close(release)
	go g.Do("slow", func() (string, error) { <-release; return "slow", nil })
	waitForCallers(t, &g, "slow", 1)
	done := make(chan string)
	go func() {
		v, _, _ := g.Do("fast", func() (string, error) { return "fast", nil })
		done <- v
	}()
	select {
	case v := <-done:
		if v != "fast" {
			t.Fatalf("got %q", v)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("a call for another key waited for the slow one")
	}
}

func TestPanicReachesEveryCaller(t *testing.T) {
	var g Group[int]
	release := make(chan struct{})
	caught := make(chan any, 3)
	for i := range 3 {
		go func() {
			defer func() { caught <- recover() }()
			if i == 0 { // one caller of each kind
				g.Do("k", func() (int, error) { <-release; panic("boom") })
			} else {
				g.DoContext(context.Background(), "k", func(context.Context) (int, error) { <-release; panic("boom") })
			}
		}()
	}
	waitForCallers(t, &g, "k", 3)
	close(release)
	for range 3 {
		p, ok := (<-caught).(*PanicError)
		if !ok || p.Value != "boom" || len(p.Stack) == 0 {
			t.Fatalf("recovered %#v", p)
		}
	}
}

func TestGoexitEndsTheCallWithAnError(t *testing.T) {
	var g Group[int]
	release := make(chan struct{})
	go g.Do("k", func() (int, error) { <-release; runtime.Goexit(); return 0, nil })
	waitForCallers(t, &g, "k", 1)
	got := make(chan error)
	go func() {
		_, err, _ := g.Do("k", func() (int, error) { return 1, nil })
		got <- err
	}()
	waitForCallers(t, &g, "k", 2)
	close(release)
	if err := <-got; err != ErrGoexit {
		t.Fatalf("got %v", err)
	}
}

// A waiter whose context ends returns at once; the call goes on and the others
// get its result.
func TestWaiterLeavesWhenItsContextEnds(t *testing.T) {
	var g Group[string]
	release := make(chan struct{})
	var runs atomic.Int32
	fn := func(ctx context.Context) (string, error) {
		runs.Add(1)
		<-release
		return "value", ctx.Err()
	}
	patient := make(chan string)
	go func() {
		v, _, _ := g.DoContext(context.Background(), "k", fn)
		patient <- v
	}()
	waitForCallers(t, &g, "k", 1)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err, _ := g.DoContext(ctx, "k", fn)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > time.Second {
		t.Fatalf("impatient caller: %v after %v", err, time.Since(start))
	}
	close(release)
	if v := <-patient; v != "value" || runs.Load() != 1 {
		t.Fatalf("the patient caller got %q; fn ran %d times", v, runs.Load())
	}
}

// The first caller leaving does not cancel fn for those who joined it: fn's
// context is not the first caller's (it keeps its values, though).
func TestFirstCallerLeavingDoesNotCancelTheCall(t *testing.T) {
	type ctxKey struct{}
	var g Group[string]
	release := make(chan struct{})
	fn := func(ctx context.Context) (string, error) {
		<-release
		if err := ctx.Err(); err != nil {
			return "", err
		}
		return ctx.Value(ctxKey{}).(string), nil
	}
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "trace-1"))
	first := make(chan error)
	go func() {
		_, err, _ := g.DoContext(ctx, "k", fn)
		first <- err
	}()
	waitForCallers(t, &g, "k", 1)
	second := make(chan string)
	go func() {
		v, err, shared := g.DoContext(context.Background(), "k", fn)
		if err != nil || !shared {
			t.Errorf("second caller: %v, shared=%v", err, shared)
		}
		second <- v
	}()
	waitForCallers(t, &g, "k", 2)
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Fatalf("first caller: %v", err)
	}
	close(release)
	if v := <-second; v != "trace-1" {
		t.Fatalf("second caller got %q", v)
	}
}

// When every caller has left, nobody wants the result: fn's context is
// cancelled, and the next caller starts a new call.
func TestCallIsCancelledWhenEveryCallerHasLeft(t *testing.T) {
	var g Group[int]
	fnCtxDone := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	left := make(chan error)
	go func() {
		_, err, _ := g.DoContext(ctx, "k", func(fnCtx context.Context) (int, error) {
			<-fnCtx.Done()
			close(fnCtxDone)
			return 0, fnCtx.Err()
		})
		left <- err
	}()
	waitForCallers(t, &g, "k", 1)
	cancel()
	if err := <-left; !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
	select {
	case <-fnCtxDone:
	case <-time.After(2 * time.Second):
		t.Fatal("fn's context was not cancelled after every caller left")
	}
	v, err, _ := g.DoContext(context.Background(), "k", func(context.Context) (int, error) { return 2, nil })
	if v != 2 || err != nil {
		t.Fatalf("the next caller got %d, %v", v, err)
	}
}

func TestForget(t *testing.T) {
	var g Group[int]
	release := make(chan struct{})
	defer close(release)
	go g.Do("k", func() (int, error) { <-release; return 1, nil })
	waitForCallers(t, &g, "k", 1)
	g.Forget("k")
	if v, _, _ := g.Do("k", func() (int, error) { return 2, nil }); v != 2 {
		t.Fatalf("after Forget, got %d from the old call", v)
	}
}
