package main

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"gopitfalls/samples/internal/lessontest"
)

// settle waits until the replica goroutine gauge stops moving.
func settle() int64 {
	last := int64(-1)
	for {
		time.Sleep(50 * time.Millisecond)
		v := replicaGoroutines.Value()
		if v == last {
			return v
		}
		last = v
	}
}

// TestFanOutLeaks demonstrates the bug: every call leaves N-1 goroutines blocked
// on their send, and the leak profile finds every one of them.
func TestFanOutLeaks(t *testing.T) {
	const calls, replicas = 20, 4
	p := &pricing{replicas: replicas, maxLatency: 5 * time.Millisecond}
	before := settle()
	for i := range calls {
		p.first(fmt.Sprint("sku-", i))
	}
	if got, want := settle()-before, int64(calls*(replicas-1)); got != want {
		t.Errorf("replica goroutines still alive = %d, want %d", got, want)
	}
	n, prof := lessontest.LeakedGoroutines(t)
	if n < calls*(replicas-1) {
		t.Errorf("goroutineleak total = %d, want >= %d\n%s", n, calls*(replicas-1), prof)
	}
	if !bytes.Contains([]byte(prof), []byte("(*pricing).first.func1")) {
		t.Errorf("profile does not point at the sender in first:\n%s", prof)
	}
}
