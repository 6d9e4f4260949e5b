package postgres_test

import (
	"slices"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
)

func checkDueBelowAMillisecond(t *testing.T, s wxtoken.Store) {
	t.Helper()
	ctx := t.Context()
	before := time.Date(2031, 3, 4, 5, 6, 7, 123_400_000, time.UTC)
	expiries := map[string]time.Time{
		"wxsubms000000001": before.Add(-300 * time.Microsecond),  // same millisecond, earlier: due
		"wxsubms000000002": before.Add(300 * time.Microsecond),   // same millisecond, later: not due
		"wxsubms000000003": before.Add(-1),                       // one nanosecond earlier: due, last
		"wxsubms000000004": before,                               // exactly at before: not due
		"wxsubms000000005": before.Add(-1300 * time.Microsecond), // previous millisecond: due, first
	}
	for id, exp := range expiries {
		a := &wxtoken.Authorizer{ComponentAppID: componentID, AppID: id, State: wxtoken.StateAuthorized,
			AccessToken: wxtoken.Token{Value: "50_" + id, ExpiresAt: exp}}
		if err := s.PutAuthorizer(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		limit int
		want  []string
	}{
		{10, []string{"wxsubms000000005", "wxsubms000000001", "wxsubms000000003"}},
		{2, []string{"wxsubms000000005", "wxsubms000000001"}},
		// A page that ends among not-due candidates of before's millisecond
		// is topped up from the rest.
		{3, []string{"wxsubms000000005", "wxsubms000000001", "wxsubms000000003"}},
	}
	for _, tt := range tests {
		got, err := s.DueAuthorizers(ctx, componentID, before, tt.limit)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, a := range got {
			ids = append(ids, a.AppID)
		}
		if !slices.Equal(ids, tt.want) {
			t.Errorf("DueAuthorizers(limit %d) = %v, want %v", tt.limit, ids, tt.want)
		}
	}
}
