package storetest

import (
	"fmt"
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
