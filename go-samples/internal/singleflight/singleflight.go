// Package singleflight coalesces concurrent calls for the same key into one, for
// the cache-stampede lesson: when a popular cache entry expires, a thousand
// requests miss at once, and without coalescing each of them runs the same
// expensive query against the database at the same moment. With a Group, the
// first caller for a key runs the function; everyone who asks for that key
// while it runs waits for it and gets the same result.
//
// It was written for the course (the well-known implementation is
// golang.org/x/sync/singleflight, which a real service would use) and adds what
// the lesson needs on top: a waiter whose context ends leaves without stopping
// the call for the others (DoContext).
//
// It is not a cache: once the call returns, the next caller runs it again.
package singleflight

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
)

// Group coalesces calls by key. The zero value is ready to use; V is the
// type of the calls' result.
type Group[V any] struct {
	mu    sync.Mutex
	calls map[string]*call[V] // the calls in flight
}

type call[V any] struct {
	done    chan struct{} // closed once fn has returned (or panicked)
	val     V
	err     error
	panic   *PanicError
	callers int                // callers still waiting (a DoContext caller may leave)
	shared  bool               // more than one caller asked for this result
	cancel  context.CancelFunc // DoContext: ends fn's context when every caller has left
}

// PanicError is what every caller of a call whose fn panicked panics with: the
// panic is not swallowed, and it reaches each waiter, not only the goroutine
// that happened to run fn. Stack is where fn panicked.
type PanicError struct {
	Value any
	Stack []byte
}

func (p *PanicError) Error() string {
	return fmt.Sprintf("singleflight: the shared call panicked: %v\n\n%s", p.Value, p.Stack)
}

// ErrGoexit is the error of a call whose fn called runtime.Goexit (t.FailNow in
// a test, for example) instead of returning.
var ErrGoexit = errors.New("singleflight: the shared call exited with runtime.Goexit")

// Do runs fn for key, unless a call for key is already running: then it waits
// for that call and returns its result. fn runs in the goroutine of the caller
// that started it. shared reports whether the result went to more than one
// caller.
func (g *Group[V]) Do(key string, fn func() (V, error)) (v V, err error, shared bool) {
	c, first := g.join(key)
	if first {
		g.run(key, c, fn)
	} else {
		<-c.done
	}
	return c.result()
}

// DoContext is Do for callers with a deadline. Each caller waits at most until
// its own ctx ends, then returns ctx.Err(); the call goes on for the others.
//
// That is why fn runs in a goroutine of its own, with a context of its own
// rather than the first caller's: if the first caller's timeout cancelled the
// query, every request that joined it would fail with an error that was not
// theirs. fn's context keeps the first caller's values (a trace id) but is
// cancelled only when every caller has left, since then nobody wants the result.
func (g *Group[V]) DoContext(ctx context.Context, key string, fn func(ctx context.Context) (V, error)) (v V, err error, shared bool) {
	c, first := g.join(key)
	if first {
		// (c.cancel is set before this caller can leave; it is only read
		// once every caller, this one included, has left.)
		fnCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		c.cancel = cancel
		go func() {
			defer c.cancel()
			g.run(key, c, func() (V, error) { return fn(fnCtx) })
			g.mu.Lock()
			orphan := c.panic != nil && c.callers == 0
			g.mu.Unlock()
			if orphan {
				// Every caller had left: no one can receive the panic, and a
				// bug must not vanish silently. Crash, as any goroutine would.
				panic(c.panic)
			}
		}()
	}
	select {
	case <-c.done:
		return c.result()
	case <-ctx.Done():
	}
	g.mu.Lock()
	select {
	case <-c.done: // it finished meanwhile: the result beats an error
		g.mu.Unlock()
		return c.result()
	default:
	}
	c.callers--
	if c.callers == 0 {
		c.cancel()
		if g.calls[key] == c {
			delete(g.calls, key) // the next caller starts afresh, not on a cancelled call
		}
	}
	g.mu.Unlock()
	return v, ctx.Err(), false
}

// Forget makes the next caller for key run fn again even if a call is in
// flight (for example when its result is known to be stale already).
func (g *Group[V]) Forget(key string) {
	g.mu.Lock()
	delete(g.calls, key)
	g.mu.Unlock()
}

// join returns the call in flight for key, or registers a new one, which the
// caller must run (first == true).
func (g *Group[V]) join(key string) (c *call[V], first bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if c, ok := g.calls[key]; ok {
		c.callers++
		c.shared = true
		return c, false
	}
	if g.calls == nil {
		g.calls = map[string]*call[V]{}
	}
	c = &call[V]{done: make(chan struct{}), callers: 1}
	g.calls[key] = c
	return c, true
}

// run calls fn and publishes its outcome to the call's waiters, whatever way fn
// ends: returning, panicking, or runtime.Goexit (a deferred function is the one
// place that sees all three).
func (g *Group[V]) run(key string, c *call[V], fn func() (V, error)) {
	returned := false
	defer func() {
		if !returned {
			if r := recover(); r != nil {
				c.panic = &PanicError{Value: r, Stack: debug.Stack()}
			} else {
				c.err = ErrGoexit
			}
		}
		g.mu.Lock()
		if g.calls[key] == c {
			delete(g.calls, key)
		}
		g.mu.Unlock()
		close(c.done)
	}()
	c.val, c.err = fn()
	returned = true
}

// result is read after done is closed: nothing writes the call any more.
func (c *call[V]) result() (V, error, bool) {
	if c.panic != nil {
		panic(c.panic)
	}
	return c.val, c.err, c.shared
}
