package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
)

// BenchmarkPutAuthorizer measures token refresh writes the way the engine
// makes them: read an authorizer, replace its tokens, compare-and-set it
// back. It cycles over 100 accounts of a platform and reports refreshes/s.
func BenchmarkPutAuthorizer(b *testing.B, s wxtoken.Store) {
	ctx := b.Context()
	comp := componentID(b)
	const accounts = 100
	for i := range accounts {
		a := fullAuthorizer(comp, authorizerID(i))
		if err := s.PutAuthorizer(ctx, a); err != nil {
			b.Fatal(err)
		}
	}
	i := 0
	for b.Loop() {
		a, err := s.GetAuthorizer(ctx, comp, authorizerID(i%accounts))
		if err != nil {
			b.Fatal(err)
		}
		now := base.Add(time.Duration(i) * time.Second)
		a.RefreshToken = fmt.Sprintf("refreshtoken@@@bench-%d", i)
		a.AccessToken = wxtoken.Token{Value: fmt.Sprintf("50_bench-%d", i), ExpiresAt: now.Add(2 * time.Hour)}
		a.LastRefreshAt, a.UpdatedAt = now, now
		if err := s.PutAuthorizer(ctx, a); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "refreshes/s")
}

// BenchmarkRefresh measures token refreshes per second on one account per
// goroutine: Serial with one goroutine, and Parallel with b.RunParallel, each
// goroutine refreshing an account of its own (as replicas do, each holding the
// lease of what it refreshes).
func BenchmarkRefresh(b *testing.B, s wxtoken.Store) {
	comp := componentID(b)
	// A sub-benchmark runs several times (growing b.N): each run refreshes
	// accounts of its own.
	var runs atomic.Int64
	b.Run("Serial", func(b *testing.B) {
		appID := fmt.Sprintf("wxserial%09d", runs.Add(1))
		seedAuthorizer(b, s, comp, appID)
		b.ResetTimer()
		for i := range b.N {
			if err := refresh(s, comp, appID, i); err != nil {
				b.Fatal(err)
			}
		}
		reportRefreshRate(b)
	})
	b.Run("Parallel", func(b *testing.B) {
		run := runs.Add(1)
		var workers atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			appID := fmt.Sprintf("wxparallel%05d%05d", run, workers.Add(1))
			seedAuthorizer(b, s, comp, appID)
			for i := 0; pb.Next(); i++ {
				if err := refresh(s, comp, appID, i); err != nil {
					b.Error(err)
					return
				}
			}
		})
		reportRefreshRate(b)
	})
}

func seedAuthorizer(b *testing.B, s wxtoken.Store, comp, appID string) {
	b.Helper()
	a := &wxtoken.Authorizer{ComponentAppID: comp, AppID: appID, State: wxtoken.StateAuthorized,
		RefreshToken: "refreshtoken@@@seed", AccessToken: wxtoken.Token{Value: "50_seed", ExpiresAt: base},
		FuncInfo: []int{1, 15, 4}, AuthorizedAt: base, UpdatedAt: base}
	if err := s.PutAuthorizer(context.Background(), a); err != nil {
		b.Fatal(err)
	}
}

// refresh does what a token refresh does to the store: read the record,
// replace the tokens, and write it back if nobody else did meanwhile.
func refresh(s wxtoken.Store, comp, appID string, i int) error {
	ctx := context.Background()
	a, err := s.GetAuthorizer(ctx, comp, appID)
	if err != nil {
		return err
	}
	at := base.Add(time.Duration(i) * time.Second)
	a.AccessToken = wxtoken.Token{Value: fmt.Sprintf("50_access%d", i), ExpiresAt: at.Add(2 * time.Hour)}
	a.RefreshToken = fmt.Sprintf("refreshtoken@@@%d", i)
	a.LastRefreshAt, a.UpdatedAt = at, at
	return s.PutAuthorizer(ctx, a)
}

func reportRefreshRate(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "refreshes/s")
}

// BenchmarkWatchLatency measures the time from PutAuthorizer on writer to the
// Change arriving at watcher's Watch: two stores on the same data, as two
// replicas are. It reports the median and the 99th percentile.
func BenchmarkWatchLatency(b *testing.B, writer, watcher wxtoken.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	changes, err := watcher.Watch(ctx)
	if err != nil {
		b.Fatal(err)
	}
	a := &wxtoken.Authorizer{ComponentAppID: componentID(b), AppID: authorizerID(1), State: wxtoken.StateAuthorized,
		RefreshToken: "refreshtoken@@@seed", AccessToken: wxtoken.Token{Value: "50_seed", ExpiresAt: base}}

	latencies := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		a.AccessToken.Value = fmt.Sprintf("50_access%d", i)
		start := time.Now()
		if err := writer.PutAuthorizer(ctx, a); err != nil {
			b.Fatal(err)
		}
		awaitVersion(b, changes, a)
		latencies = append(latencies, time.Since(start))
	}
	b.StopTimer()
	reportPercentiles(b, latencies)
}

func awaitVersion(b *testing.B, changes <-chan wxtoken.Change, a *wxtoken.Authorizer) {
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case c, ok := <-changes:
			if !ok {
				b.Fatal("watch closed")
			}
			if c.Kind == wxtoken.ChangeAuthorizer && c.ComponentAppID == a.ComponentAppID && c.AppID == a.AppID && c.Version == a.Version {
				return
			}
		case <-timeout.C:
			b.Fatalf("version %d not announced within 10s", a.Version)
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
