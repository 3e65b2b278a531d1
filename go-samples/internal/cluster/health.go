package cluster

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"
)

// Probe settings shared by the balancer and the supervisor: each asks every instance
// every Interval, waits at most Timeout for the answer, and acts after a number of
// failures in a row (Kubernetes calls them periodSeconds, timeoutSeconds and
// failureThreshold).
type Probe struct {
	Path      string
	Interval  time.Duration
	Timeout   time.Duration
	Threshold int
}

// check asks http://addr+path once: true when it answered 2xx within the timeout.
func (p Probe) check(ctx context.Context, client *http.Client, addr string) bool {
	if addr == "" {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, p.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+p.Path, nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode >= 200 && resp.StatusCode < 300
}

// watch probes addr() every Interval until ctx ends and calls onFail after Threshold
// failures in a row (the count starts over after it), onOK after each success.
func (p Probe) watch(ctx context.Context, client *http.Client, addr func() string,
	onOK, onFail func()) {
	tick := time.NewTicker(p.Interval)
	defer tick.Stop()
	fails := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if p.check(ctx, client, addr()) {
			fails = 0
			onOK()
			continue
		}
		if fails++; fails >= p.Threshold {
			fails = 0
			onFail()
		}
	}
}

// flag is a goroutine-safe boolean.
type flag struct{ v atomic.Bool }

func (f *flag) set(v bool) { f.v.Store(v) }
func (f *flag) get() bool  { return f.v.Load() }
