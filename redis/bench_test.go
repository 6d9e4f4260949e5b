package redis_test

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/redis"
)

// benchNow is the virtual time of the benchmarks' records.
var benchNow = time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)

func seedAuthorizer(b *testing.B, s *redis.Store, appID string) {
	b.Helper()
	a := &wxtoken.Authorizer{ComponentAppID: componentID, AppID: appID, State: wxtoken.StateAuthorized,
		RefreshToken: "refreshtoken@@@seed", AccessToken: wxtoken.Token{Value: "50_seed", ExpiresAt: benchNow},
		FuncInfo: []int{1, 15, 4}, AuthorizedAt: benchNow, UpdatedAt: benchNow}
	if err := s.PutAuthorizer(context.Background(), a); err != nil {
		b.Fatal(err)
	}
}

// refresh does what a token refresh does to the store: read the record,
// replace the tokens, and write it back if nobody else did meanwhile.
func refresh(s *redis.Store, appID string, i int) error {
	ctx := context.Background()
	a, err := s.GetAuthorizer(ctx, componentID, appID)
	if err != nil {
		return err
	}
	at := benchNow.Add(time.Duration(i) * time.Second)
	a.AccessToken = wxtoken.Token{Value: fmt.Sprintf("50_access%d", i), ExpiresAt: at.Add(2 * time.Hour)}
	a.RefreshToken = fmt.Sprintf("refreshtoken@@@%d", i)
	a.LastRefreshAt, a.UpdatedAt = at, at
	return s.PutAuthorizer(ctx, a)
}

func reportRate(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "refreshes/s")
}

// BenchmarkPutAuthorizer measures token refreshes per second: one goroutine,
// and b.RunParallel with each goroutine refreshing an account of its own (as
// replicas do, each holding the lease of what it refreshes).
func BenchmarkPutAuthorizer(b *testing.B) {
	serverURL := testURL(b)
	s := openStore(b, serverURL, newPrefix(b, serverURL))

	// A sub-benchmark runs several times (growing b.N): each run refreshes
	// accounts of its own.
	var runs atomic.Int64
	b.Run("Serial", func(b *testing.B) {
		appID := fmt.Sprintf("wxserial%09d", runs.Add(1))
		seedAuthorizer(b, s, appID)
		b.ResetTimer()
		for i := range b.N {
			if err := refresh(s, appID, i); err != nil {
				b.Fatal(err)
			}
		}
		reportRate(b)
	})
	b.Run("Parallel", func(b *testing.B) {
		run := runs.Add(1)
		var workers atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			appID := fmt.Sprintf("wxparallel%05d%05d", run, workers.Add(1))
			seedAuthorizer(b, s, appID)
			for i := 0; pb.Next(); i++ {
				if err := refresh(s, appID, i); err != nil {
					b.Error(err)
					return
				}
			}
		})
		reportRate(b)
	})
}

// BenchmarkWatchLatency measures the time from PutAuthorizer on one replica
// to the Change arriving at another replica's Watch.
func BenchmarkWatchLatency(b *testing.B) {
	serverURL := testURL(b)
	prefix := newPrefix(b, serverURL)
	writer, watcher := openStore(b, serverURL, prefix), openStore(b, serverURL, prefix)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	changes, err := watcher.Watch(ctx)
	if err != nil {
		b.Fatal(err)
	}
	a := &wxtoken.Authorizer{ComponentAppID: componentID, AppID: appID, State: wxtoken.StateAuthorized,
		RefreshToken: "refreshtoken@@@seed", AccessToken: wxtoken.Token{Value: "50_seed", ExpiresAt: benchNow}}

	latencies := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		a.AccessToken.Value = fmt.Sprintf("50_access%d", i)
		start := time.Now()
		if err := writer.PutAuthorizer(ctx, a); err != nil {
			b.Fatal(err)
		}
		awaitVersion(b, changes, a.Version)
		latencies = append(latencies, time.Since(start))
	}
	b.StopTimer()
	reportPercentiles(b, latencies)
}

func awaitVersion(b *testing.B, changes <-chan wxtoken.Change, version int64) {
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case c, ok := <-changes:
			if !ok {
				b.Fatal("watch closed")
			}
			if c.Kind == wxtoken.ChangeAuthorizer && c.AppID == appID && c.Version == version {
				return
			}
		case <-timeout.C:
			b.Fatalf("version %d not announced within 10s", version)
		}
	}
}

func reportPercentiles(b *testing.B, latencies []time.Duration) {
	slices.Sort(latencies)
	at := func(p float64) float64 {
		return float64(latencies[int(p*float64(len(latencies)-1))].Microseconds())
	}
	b.ReportMetric(at(0.50), "p50-µs")
	b.ReportMetric(at(0.99), "p99-µs")
}
