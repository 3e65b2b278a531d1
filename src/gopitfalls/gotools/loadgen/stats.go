package main

import (
	"errors"
	"io"
	"math"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
)

type errKind int

const (
	kindTimeout errKind = iota
	kindRefused
	kindReset
	kindEOF
	kindOverload
	kindOther
	numKinds
)

var kindNames = [numKinds]string{"timeout", "refused", "reset", "eof", "overload", "other"}

// timeouter is the part of net.Error that matters here (its other method,
// Temporary, is deprecated); errPoolTimeout has only this one.
type timeouter interface{ Timeout() bool }

func classify(err error) errKind {
	var te timeouter
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return kindTimeout
	case errors.As(err, &te) && te.Timeout():
		return kindTimeout
	case errors.Is(err, syscall.ECONNREFUSED):
		return kindRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED):
		return kindReset
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return kindEOF
	}
	return kindOther
}

// shard collects the results of some requests; the reporter drains it.
// Workers of the closed model each own a shard, so the lock is uncontended.
type shard struct {
	sent atomic.Int64 // cumulative, never reset

	mu     sync.Mutex
	done   int64
	ok     int64
	errs   [numKinds]int64
	status [1000]int64
	hist   histogram
	_      [64]byte // keep shards on separate cache lines
}

func (s *shard) record(status int, err error, latencyNs int64) {
	var k errKind
	if err != nil {
		k = classify(err)
	}
	s.mu.Lock()
	s.done++
	if err != nil {
		s.errs[k]++
	} else {
		s.status[status]++
		if status >= 200 && status < 400 {
			s.ok++
		}
	}
	s.hist.record(latencyNs)
	s.mu.Unlock()
}

func (s *shard) overload() {
	s.mu.Lock()
	s.errs[kindOverload]++
	s.mu.Unlock()
}

// counts is what one interval (or the whole run) adds up to.
type counts struct {
	sent, done, ok int64
	errs           [numKinds]int64
	status         map[int]int64
	hist           histogram
}

func (c *counts) add(o *counts) {
	c.sent += o.sent
	c.done += o.done
	c.ok += o.ok
	for i := range c.errs {
		c.errs[i] += o.errs[i]
	}
	if c.status == nil {
		c.status = map[int]int64{}
	}
	for k, v := range o.status {
		c.status[k] += v
	}
	c.hist.merge(&o.hist)
}

type collector struct {
	shards   []*shard
	lastSent []int64
	total    counts
}

func newCollector(n int) *collector {
	c := &collector{shards: make([]*shard, n), lastSent: make([]int64, n)}
	for i := range c.shards {
		c.shards[i] = &shard{}
	}
	c.total.status = map[int]int64{}
	return c
}

// collect drains every shard into a new interval and adds it to the total.
func (c *collector) collect() *counts {
	iv := &counts{status: map[int]int64{}}
	for i, s := range c.shards {
		sent := s.sent.Load()
		iv.sent += sent - c.lastSent[i]
		c.lastSent[i] = sent
		s.mu.Lock()
		iv.done += s.done
		iv.ok += s.ok
		s.done, s.ok = 0, 0
		for k := range s.errs {
			iv.errs[k] += s.errs[k]
			s.errs[k] = 0
		}
		for code, n := range s.status {
			if n != 0 {
				iv.status[code] += n
				s.status[code] = 0
			}
		}
		iv.hist.merge(&s.hist)
		s.hist.reset()
		s.mu.Unlock()
	}
	c.total.add(iv)
	return iv
}

func (c *collector) inflight() int64 {
	return c.total.sent - c.total.done
}

// report is one JSON line of output.
type report struct {
	Type     string           `json:"type"`
	T        float64          `json:"t"`
	Sent     int64            `json:"sent"`
	Done     int64            `json:"done"`
	OK       int64            `json:"ok"`
	Errors   map[string]int64 `json:"errors"`
	Status   map[string]int64 `json:"status"`
	Inflight int64            `json:"inflight"`
	P50      float64          `json:"p50_ms"`
	P90      float64          `json:"p90_ms"`
	P99      float64          `json:"p99_ms"`
	Max      float64          `json:"max_ms"`
}

// summary is the last line of output.
type summary struct {
	report
	Mean      float64 `json:"mean_ms"`
	Model     string  `json:"model"`
	DurationS float64 `json:"duration_s"`
	LoadS     float64 `json:"load_s"`
	RPS       float64 `json:"rps"`
}

func ms(ns int64) float64 { return round3(float64(ns) / 1e6) }

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

func makeReport(typ string, t float64, c *counts, inflight int64) report {
	r := report{
		Type: typ, T: round3(t), Sent: c.sent, Done: c.done, OK: c.ok,
		Errors: map[string]int64{}, Status: map[string]int64{}, Inflight: inflight,
		P50: ms(c.hist.quantile(0.50)), P90: ms(c.hist.quantile(0.90)),
		P99: ms(c.hist.quantile(0.99)), Max: ms(c.hist.max),
	}
	for k, n := range c.errs {
		if n != 0 {
			r.Errors[kindNames[k]] = n
		}
	}
	for code, n := range c.status {
		if n != 0 {
			r.Status[strconv.Itoa(code)] = n
		}
	}
	return r
}
