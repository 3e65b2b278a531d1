package main

import (
	"math"
	"math/bits"
)

// histogram is a log-linear latency histogram over int64 nanoseconds.
//
// Values below 256 are stored exactly; above that every power of two is split
// into 128 linear sub-buckets, so a bucket's width is at most 1/128 of its
// lower bound. Quantiles are reported as the bucket midpoint (clamped to the
// exact min/max), giving a relative error of at most 1/256 (~0.4%).
type histogram struct {
	counts []uint64
	n      uint64
	sum    float64 // nanoseconds, for the mean
	min    int64
	max    int64
	lo, hi int // touched index range [lo, hi]
}

const (
	subBits    = 7
	subCount   = 1 << subBits // 128
	linearMax  = 2 * subCount // values below are exact
	numBuckets = linearMax + (63-subBits)*subCount
)

func bucketIndex(v int64) int {
	if v < linearMax {
		if v < 0 {
			return 0
		}
		return int(v)
	}
	u := uint64(v)
	e := bits.Len64(u) - 1 // >= 8
	shift := e - subBits   // >= 1
	m := int(u >> uint(shift))
	return linearMax + (shift-1)*subCount + (m - subCount)
}

// bucketBounds returns the inclusive value range of bucket idx.
func bucketBounds(idx int) (lo, hi int64) {
	if idx < linearMax {
		return int64(idx), int64(idx)
	}
	k := idx - linearMax
	shift := uint(k/subCount + 1)
	m := int64(k%subCount + subCount)
	return m << shift, ((m + 1) << shift) - 1
}

func (h *histogram) record(v int64) {
	if v < 0 {
		v = 0
	}
	if h.counts == nil {
		h.counts = make([]uint64, numBuckets)
		h.lo = numBuckets
		h.hi = -1
	}
	i := bucketIndex(v)
	h.counts[i]++
	if i < h.lo {
		h.lo = i
	}
	if i > h.hi {
		h.hi = i
	}
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += float64(v)
}

func (h *histogram) merge(o *histogram) {
	if o.n == 0 {
		return
	}
	if h.counts == nil {
		h.counts = make([]uint64, numBuckets)
		h.lo = numBuckets
		h.hi = -1
	}
	for i := o.lo; i <= o.hi; i++ {
		h.counts[i] += o.counts[i]
	}
	if o.lo < h.lo {
		h.lo = o.lo
	}
	if o.hi > h.hi {
		h.hi = o.hi
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	h.n += o.n
	h.sum += o.sum
}

func (h *histogram) reset() {
	if h.n > 0 {
		clear(h.counts[h.lo : h.hi+1])
	}
	h.n, h.sum, h.min, h.max = 0, 0, 0, 0
	h.lo, h.hi = numBuckets, -1
}

// quantile returns the nearest-rank q-quantile (0 < q <= 1); 0 if empty.
func (h *histogram) quantile(q float64) int64 {
	if h.n == 0 {
		return 0
	}
	if q >= 1 {
		return h.max
	}
	// ceil(q*n), tolerant of float noise such as 0.9*10 = 9.000000000000002
	rank := uint64(math.Ceil(q*float64(h.n) - 1e-9))
	if rank < 1 {
		rank = 1
	}
	if rank > h.n {
		rank = h.n
	}
	var seen uint64
	for i := h.lo; i <= h.hi; i++ {
		seen += h.counts[i]
		if seen >= rank {
			lo, hi := bucketBounds(i)
			v := lo + (hi-lo)/2
			if v < h.min {
				v = h.min
			}
			if v > h.max {
				v = h.max
			}
			return v
		}
	}
	return h.max
}

func (h *histogram) mean() float64 {
	if h.n == 0 {
		return 0
	}
	return h.sum / float64(h.n)
}
