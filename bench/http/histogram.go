package main

import (
	"math/bits"
	"time"
)

// histogram counts latencies in log-linear buckets: each power of two is cut
// into 1<<subBits buckets, so a bucket's width is under 1/128 of its value
// (under 0.8 % error) from 1 ns to hours, in a fixed 60 KiB array that a
// worker fills without allocating or locking.
type histogram struct {
	counts [buckets]uint64
	total  uint64
	max    time.Duration
}

const (
	subBits = 7
	sub     = 1 << subBits
	buckets = (64 - subBits + 1) * sub
)

// bucketOf maps v to its bucket: values below 2*sub have a bucket each; above,
// the top subBits+1 bits of v pick the bucket.
func bucketOf(v uint64) int {
	if v < 2*sub {
		return int(v)
	}
	shift := bits.Len64(v) - subBits - 1
	return (shift+1)*sub + int(v>>shift) - sub
}

// upperBound is the largest value that falls in bucket i.
func upperBound(i int) uint64 {
	if i < 2*sub {
		return uint64(i)
	}
	shift := i/sub - 1
	m := uint64(i%sub + sub)
	return (m+1)<<shift - 1
}

func (h *histogram) record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(uint64(d))]++
	h.total++
	if d > h.max {
		h.max = d
	}
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
	if o.max > h.max {
		h.max = o.max
	}
}

// quantile returns the upper bound of the bucket holding the q-th latency
// (0 < q <= 1), capped at the largest latency seen, so a figure is never
// better than what was measured.
func (h *histogram) quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	rank := uint64(q*float64(h.total) + 0.5)
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(time.Duration(upperBound(i)), h.max)
		}
	}
	return h.max
}
