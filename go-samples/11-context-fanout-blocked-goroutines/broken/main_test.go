package main

import (
	"bytes"
	"fmt"
	"regexp"
	"runtime/pprof"
	"strconv"
	"testing"
	"time"
)

// leaked asks the Go 1.27 goroutine leak detector (a special GC cycle behind the
// "goroutineleak" profile) how many goroutines are blocked forever on
// concurrency primitives that nothing live can reach.
func leaked(t *testing.T) (int, string) {
	t.Helper()
	var buf bytes.Buffer
	if err := pprof.Lookup("goroutineleak").WriteTo(&buf, 1); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`goroutineleak profile: total (\d+)`).FindSubmatch(buf.Bytes())
	if m == nil {
		t.Fatalf("unexpected profile:\n%s", buf.String())
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n, buf.String()
}

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
	n, prof := leaked(t)
	if n < calls*(replicas-1) {
		t.Errorf("goroutineleak total = %d, want >= %d\n%s", n, calls*(replicas-1), prof)
	}
	if !bytes.Contains([]byte(prof), []byte("(*pricing).first.func1")) {
		t.Errorf("profile does not point at the sender in first:\n%s", prof)
	}
}
