package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
)

// race runs n calls of f at once (as near as goroutines allow) and returns
// their errors by index.
func race(n int, f func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = f(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// oneWinner checks that exactly one call succeeded and all others lost with
// EConflict, and returns the winner's index.
func oneWinner(t *testing.T, what string, errs []error) int {
	t.Helper()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("%s: both %d and %d won", what, winner, i)
		case err == nil:
			winner = i
		default:
			wantCode(t, fmt.Sprintf("%s: loser %d", what, i), err, wxtoken.EConflict)
		}
	}
	if winner < 0 {
		t.Fatalf("%s: nobody won", what)
	}
	return winner
}

func testConcurrentAcquireLease(t *testing.T, s wxtoken.Store) {
	ctx := t.Context()
	name := wxtoken.ComponentTokenLease(componentID(t))
	const ttl = time.Minute
	owner := func(i int) string { return fmt.Sprintf("replica-%02d", i) }
	errs := race(32, func(i int) error {
		_, err := s.AcquireLease(ctx, name, owner(i), base, ttl)
		return err
	})
	w := oneWinner(t, "32 replicas acquiring one lease", errs)
	// The winner really holds it: it can renew and another owner cannot take it.
	if _, err := s.AcquireLease(ctx, name, owner(w), base.Add(time.Second), ttl); err != nil {
		t.Fatalf("winner renewing: %v", err)
	}
	_, err := s.AcquireLease(ctx, name, owner((w+1)%32), base.Add(time.Second), ttl)
	wantCode(t, "loser acquiring after the race", err, wxtoken.EConflict)
}

func testConcurrentPutAuthorizer(t *testing.T, s wxtoken.Store) {
	comp := componentID(t)
	orig := fullAuthorizer(comp, authorizerID(1))
	mustPut(t, s, orig)
	writes := make([]*wxtoken.Authorizer, 16)
	for i := range writes {
		a := orig.Clone()
		a.RefreshToken = fmt.Sprintf("refreshtoken@@@racer-%02d", i)
		a.AccessToken.Value = fmt.Sprintf("50_racer-%02d", i)
		a.LastError = fmt.Sprintf("racer %d", i)
		writes[i] = a
	}
	errs := race(len(writes), func(i int) error { return s.PutAuthorizer(t.Context(), writes[i]) })
	w := oneWinner(t, "16 refreshes on one version", errs)
	// The stored record is the winner's, whole: not a mix of racers.
	checkAuthorizer(t, "after the race", writes[w], mustGet(t, s, comp, orig.AppID))
	for i, a := range writes {
		if i != w && a.Version != orig.Version {
			t.Errorf("loser %d: Version changed from %d to %d", i, orig.Version, a.Version)
		}
	}
}

func testConcurrentCreateAuthorizer(t *testing.T, s wxtoken.Store) {
	comp := componentID(t)
	writes := make([]*wxtoken.Authorizer, 16)
	for i := range writes {
		a := fullAuthorizer(comp, authorizerID(1))
		a.RefreshToken = fmt.Sprintf("refreshtoken@@@creator-%02d", i)
		writes[i] = a
	}
	errs := race(len(writes), func(i int) error { return s.PutAuthorizer(t.Context(), writes[i]) })
	w := oneWinner(t, "16 creations of one authorizer", errs)
	checkAuthorizer(t, "after the race", writes[w], mustGet(t, s, comp, writes[w].AppID))
}

func testConcurrentAppendEvent(t *testing.T, s wxtoken.Store) {
	ctx := t.Context()
	comp := componentID(t)
	const writers, each = 8, 16
	ids := make([][]int64, writers)
	errs := race(writers, func(g int) error {
		for i := range each {
			e := &wxtoken.Event{
				ComponentAppID:  comp,
				AuthorizerAppID: authorizerID(g),
				Kind:            wxtoken.EventAuthorizerRefresh,
				Detail:          fmt.Sprintf("writer %d event %d", g, i),
				At:              base.Add(time.Duration(i) * time.Millisecond),
			}
			if err := s.AppendEvent(ctx, e); err != nil {
				return err
			}
			ids[g] = append(ids[g], e.ID)
		}
		return nil
	})
	appended := map[int64]bool{}
	for g, err := range errs {
		if err != nil {
			t.Fatalf("writer %d: %v", g, err)
		}
		prev := int64(0)
		for _, id := range ids[g] {
			if appended[id] {
				t.Fatalf("event ID %d was given twice", id)
			}
			// One writer's events are appended in sequence, so their IDs
			// increase.
			if id <= prev {
				t.Fatalf("writer %d: ID %d after %d", g, id, prev)
			}
			appended[id] = true
			prev = id
		}
	}

	// Paging with the default limit returns every event once, in ID order.
	var listed []int64
	after := int64(0)
	for page := 0; ; page++ {
		got, err := s.ListEvents(ctx, wxtoken.EventFilter{ComponentAppID: comp, AfterID: after})
		if err != nil {
			t.Fatal(err)
		}
		if page == 0 && len(got) != 100 {
			t.Fatalf("first page with Limit 0 has %d events, want 100", len(got))
		}
		if len(got) == 0 {
			break
		}
		for _, e := range got {
			if e.ID <= after {
				t.Fatalf("ListEvents: ID %d after %d", e.ID, after)
			}
			after = e.ID
			listed = append(listed, e.ID)
		}
	}
	if len(listed) != writers*each {
		t.Fatalf("listed %d events, want %d", len(listed), writers*each)
	}
	for _, id := range listed {
		if !appended[id] {
			t.Fatalf("listed event %d that no writer appended", id)
		}
	}
}
