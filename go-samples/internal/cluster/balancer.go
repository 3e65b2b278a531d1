package cluster

import (
	"context"
	"expvar"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// An Instance is one copy of the service: a name and where it listens now (empty while
// it is not running).
type Instance interface {
	Name() string
	Addr() string
}

// Balancer spreads requests round robin over the instances whose readiness probe
// passes, as a cloud load balancer or a Kubernetes Service does: an instance leaves the
// rotation after Ready.Threshold failed probes in a row and comes back after one that
// passes. It never looks at the answers the instances give to real requests: a 500
// from a ready instance goes to the client, because readiness is the instance's own
// word on whether it can serve.
type Balancer struct {
	Ready Probe

	members []*member
	next    atomic.Uint64
	proxy   *httputil.ReverseProxy
	client  *http.Client

	Requests expvar.Map // answers forwarded, by instance name
	Errors   expvar.Map // answers 5xx (theirs, or 502 when one did not answer), by name
	Shed     expvar.Int // answered 503 here: no instance was ready
}

type member struct {
	Instance
	ready flag
}

type targetKey struct{}

// NewBalancer balances over instances, which start in the rotation.
func NewBalancer(ready Probe, instances ...Instance) *Balancer {
	b := &Balancer{Ready: ready, client: &http.Client{Transport: &http.Transport{}}}
	b.Requests.Init()
	b.Errors.Init()
	for _, in := range instances {
		m := &member{Instance: in}
		m.ready.set(true)
		b.members = append(b.members, m)
		b.Requests.Add(in.Name(), 0)
		b.Errors.Add(in.Name(), 0)
	}
	b.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(pr.In.Context().Value(targetKey{}).(*url.URL))
		},
		Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second},
		ModifyResponse: func(resp *http.Response) error {
			if resp.StatusCode >= 500 {
				b.Errors.Add(resp.Request.Header.Get("X-Cluster-Instance"), 1)
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			b.Errors.Add(r.Header.Get("X-Cluster-Instance"), 1)
			http.Error(w, "instance did not answer: "+err.Error(), http.StatusBadGateway)
		},
	}
	return b
}

// ReadyCount is how many instances are in the rotation.
func (b *Balancer) ReadyCount() int {
	n := 0
	for _, m := range b.members {
		if m.ready.get() {
			n++
		}
	}
	return n
}

// Run probes every instance's readiness until ctx ends.
func (b *Balancer) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, m := range b.members {
		wg.Go(func() {
			b.Ready.watch(ctx, b.client, m.Addr,
				func() { m.ready.set(true) }, func() { m.ready.set(false) })
		})
	}
	wg.Wait()
}

// pick is the next ready instance in round-robin order, or nil.
func (b *Balancer) pick() *member {
	n := len(b.members)
	start := int(b.next.Add(1))
	for i := range n {
		if m := b.members[(start+i)%n]; m.ready.get() && m.Addr() != "" {
			return m
		}
	}
	return nil
}

func (b *Balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m := b.pick()
	if m == nil {
		b.Shed.Add(1)
		http.Error(w, "no instance is ready", http.StatusServiceUnavailable)
		return
	}
	b.Requests.Add(m.Name(), 1)
	target := &url.URL{Scheme: "http", Host: m.Addr()}
	r = r.WithContext(context.WithValue(r.Context(), targetKey{}, target))
	r.Header.Set("X-Cluster-Instance", m.Name())
	b.proxy.ServeHTTP(w, r)
}
