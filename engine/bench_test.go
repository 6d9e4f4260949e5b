package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
)

// BenchmarkCachedAuthorizerToken measures the hot path of the token API: a
// cached token read, with 10,000 authorizers in the cache, on the wall clock
// as in production.
func BenchmarkCachedAuthorizerToken(b *testing.B) {
	const n = 10000
	h := newHarness(b, harnessOptions{authorizers: n, preAuthorized: true, clock: wxtoken.SystemClock{}})
	// On the wall clock the first ticket push takes a moment to arrive.
	for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		if _, err := h.eng.Sync(h.ctx, false); err == nil {
			break
		} else if time.Since(start) > 30*time.Second {
			b.Fatal(err)
		}
	}
	ids := make([]string, 0, n)
	for _, a := range h.emu.Accounts(0, n) {
		ids = append(ids, a.AppID)
	}
	ctx, cancel := context.WithTimeout(h.ctx, 2*time.Minute)
	defer cancel()
	for _, id := range ids {
		if _, err := h.eng.AuthorizerToken(ctx, id); err != nil {
			b.Fatalf("%s: %v", id, err)
		}
	}
	for h.eng.Busy() > 0 {
		time.Sleep(10 * time.Millisecond) // let the first refreshes finish before measuring
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, ok := h.eng.CachedAuthorizerToken(ids[i%n]); !ok {
				b.Fatal("not cached")
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, ok := h.eng.CachedAuthorizerToken(ids[i%n]); !ok {
					panic("not cached")
				}
				i++
			}
		})
	})
}
