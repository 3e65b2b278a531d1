package cluster

import (
	"context"
	"expvar"
	"log"
	"net/http"
	"sync"
)

// A Restartable instance can be killed and started again.
type Restartable interface {
	Instance
	Restart() error
}

// Supervisor restarts an instance after Live.Threshold failed liveness probes in a
// row, as the kubelet does: liveness answers "is this process stuck for good, so that
// only a restart helps?". It counts every restart in Restarts.
type Supervisor struct {
	Live     Probe
	Restarts expvar.Int

	client *http.Client
}

// NewSupervisor supervises with the liveness probe live.
func NewSupervisor(live Probe) *Supervisor {
	return &Supervisor{Live: live, client: &http.Client{Transport: &http.Transport{}}}
}

// Run probes every instance until ctx ends, restarting those that fail.
func (s *Supervisor) Run(ctx context.Context, instances ...Restartable) {
	var wg sync.WaitGroup
	for _, in := range instances {
		wg.Go(func() {
			s.Live.watch(ctx, s.client, in.Addr, func() {}, func() {
				if ctx.Err() != nil {
					return
				}
				s.Restarts.Add(1)
				log.Printf("supervisor: %s failed %d liveness probes in a row: restarting it",
					in.Name(), s.Live.Threshold)
				if err := in.Restart(); err != nil {
					log.Printf("supervisor: restarting %s: %v", in.Name(), err)
				}
			})
		})
	}
	wg.Wait()
}
