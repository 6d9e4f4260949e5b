// Package storetest is the conformance suite of wxtoken.Store. Every store
// (sqlite, postgres, redis, and wrappers such as sealed) runs it unchanged, so
// that the engine can rely on the documented behaviour whatever the backend.
//
// What a store must do beyond the interface's doc comments, as checked here:
//
//   - Times round-trip with at least millisecond precision and as the same
//     instant (compared with time.Time.Equal, so the location may change). A
//     zero time comes back zero. The suite only writes times on whole
//     milliseconds.
//   - A nil and an empty FuncInfo or category list are interchangeable; a nil
//     MiniProgram stays nil and a present one stays present.
//   - PutAuthorizer leaves the caller's Version untouched when it fails, and
//     an update (Version > 0) of a record that does not exist is EConflict.
//   - PutTicket with the same CreatedAt as the stored ticket stores it (a
//     re-push); only a strictly later stored CreatedAt wins.
//   - Limit 0 means 100 in ListAuthorizers and ListEvents.
//   - DueAuthorizers puts authorizers without a token before all others, and
//     "before" is strict: a token expiring exactly at that time is not due.
//     That holds below a millisecond too (real clocks give nanoseconds), so
//     one check writes expiries off the whole millisecond.
//   - A write made after Watch returns is delivered to every watcher within a
//     few seconds, and the channel is closed once the watch's context is done.
//
// Each subtest uses component AppIDs of its own, so a store shared between
// subtests (or with other test packages) does not make them interfere; still,
// newStore should return an empty store.
package storetest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
)

// Run runs the conformance suite. newStore returns a fresh, empty store for
// each subtest and registers its cleanup (Close, removing files) with
// t.Cleanup.
func Run(t *testing.T, newStore func(t *testing.T) wxtoken.Store) {
	t.Helper()
	tests := []struct {
		name string
		run  func(t *testing.T, s wxtoken.Store)
	}{
		{"Ping", testPing},
		{"NotFound", testNotFound},
		{"Ticket", testTicket},
		{"ComponentToken", testComponentToken},
		{"AuthorizerRoundTrip", testAuthorizerRoundTrip},
		{"AuthorizerCompareAndSet", testAuthorizerCAS},
		{"AuthorizerIsolation", testAuthorizerIsolation},
		{"ListAuthorizers", testListAuthorizers},
		{"ListAuthorizersDefaultLimit", testListAuthorizersDefaultLimit},
		{"DueAuthorizers", testDueAuthorizers},
		{"DueAuthorizersBelowAMillisecond", testDueBelowAMillisecond},
		{"Lease", testLease},
		{"Events", testEvents},
		{"Watch", testWatch},
		{"ConcurrentAcquireLease", testConcurrentAcquireLease},
		{"ConcurrentPutAuthorizer", testConcurrentPutAuthorizer},
		{"ConcurrentCreateAuthorizer", testConcurrentCreateAuthorizer},
		{"ConcurrentAppendEvent", testConcurrentAppendEvent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, newStore(t))
		})
	}
}

// base is the suite's virtual "now": far from the wall clock, so a store that
// reads its own clock instead of the time it is given fails the lease tests.
// It is on a whole millisecond, the precision stores must keep.
var base = time.Date(2031, time.March, 4, 5, 6, 7, 123_000_000, time.UTC)

// shanghai checks that stores keep instants, not wall readings of a location.
var shanghai = time.FixedZone("CST", 8*3600)

// componentID returns a component AppID unique to this run.
func componentID(t testing.TB) string {
	t.Helper()
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return "wxc" + hex.EncodeToString(b[:])
}

// authorizerID returns the i-th authorizer AppID; they sort in i order.
func authorizerID(i int) string { return fmt.Sprintf("wxa%015d", i) }

func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// fullAuthorizer sets every field, with values that trip common mistakes:
// non-ASCII text, quotes and newlines, a negative number, times in another
// location, a mini program with categories.
func fullAuthorizer(component, appID string) *wxtoken.Authorizer {
	return &wxtoken.Authorizer{
		ComponentAppID: component,
		AppID:          appID,
		State:          wxtoken.StateAuthorized,
		RefreshToken:   "refreshtoken@@@" + appID + "-R1xq9ZpVw",
		AccessToken: wxtoken.Token{
			Value:     "50_dZ1C" + appID + "_access",
			ExpiresAt: base.Add(2 * time.Hour),
		},
		FuncInfo: []int{1, 15, 4, 7, 11},
		Info: wxtoken.AccountInfo{
			NickName:      "测试公众号 ✓",
			HeadImg:       "http://wx.qlogo.cn/mmopen/abc/0",
			ServiceType:   2,
			VerifyType:    -1,
			UserName:      "gh_eb5e3a772040",
			Alias:         "paytest01",
			QRCodeURL:     "http://mmbiz.qpic.cn/mmbiz_jpg/xyz/0",
			PrincipalName: "深圳市腾讯计算机系统有限公司",
			Signature:     "line one\n\"quoted\" 'single' \\ back",
			AccountStatus: 1,
			MiniProgram: &wxtoken.MiniProgram{
				Categories: []wxtoken.MiniProgramCategory{
					{First: "教育", Second: "学历教育"},
					{First: "工具", Second: "效率"},
				},
				VisitStatus: 3,
			},
			FetchedAt: base.Add(-time.Minute).In(shanghai),
		},
		AuthorizedAt:   base.Add(-24 * time.Hour).In(shanghai),
		LastRefreshAt:  base,
		LastError:      "61023: refresh token rejected",
		UpdatedAt:      base.Add(time.Second),
		LastEventAt:    base.Add(-time.Hour),
		AuthCodeDigest: digest("queryauthcode@@@" + appID),
	}
}

// simpleAuthorizer is an authorized account whose access token expires at
// expires (no token when expires is zero).
func simpleAuthorizer(component, appID string, state wxtoken.AuthorizerState, expires time.Time) *wxtoken.Authorizer {
	a := &wxtoken.Authorizer{
		ComponentAppID: component,
		AppID:          appID,
		State:          state,
		RefreshToken:   "refreshtoken@@@" + appID,
		AuthorizedAt:   base.Add(-time.Hour),
		UpdatedAt:      base.Add(-time.Hour),
	}
	if !expires.IsZero() {
		a.AccessToken = wxtoken.Token{Value: "50_" + appID, ExpiresAt: expires}
	}
	return a
}

func mustPut(t *testing.T, s wxtoken.Store, a *wxtoken.Authorizer) {
	t.Helper()
	before := a.Version
	if err := s.PutAuthorizer(t.Context(), a); err != nil {
		t.Fatalf("PutAuthorizer(%s, version %d): %v", a.AppID, before, err)
	}
	if a.Version <= before {
		t.Fatalf("PutAuthorizer(%s): version went from %d to %d, want it to increase", a.AppID, before, a.Version)
	}
}

func mustGet(t *testing.T, s wxtoken.Store, component, appID string) *wxtoken.Authorizer {
	t.Helper()
	a, err := s.GetAuthorizer(t.Context(), component, appID)
	if err != nil {
		t.Fatalf("GetAuthorizer(%s): %v", appID, err)
	}
	return a
}

// wantCode fails unless err carries the error code, and for ENotFound and
// EConflict also matches the sentinel with errors.Is.
func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := wxtoken.ErrorCode(err); got != code {
		t.Fatalf("%s: error %v (code %q), want code %q", what, err, got, code)
	}
	switch code {
	case wxtoken.ENotFound:
		if !errors.Is(err, wxtoken.ErrNotFound) {
			t.Fatalf("%s: errors.Is(%v, ErrNotFound) is false", what, err)
		}
	case wxtoken.EConflict:
		if !errors.Is(err, wxtoken.ErrConflict) {
			t.Fatalf("%s: errors.Is(%v, ErrConflict) is false", what, err)
		}
	}
}

func sameTime(a, b time.Time) bool { return a.Equal(b) }

// diffAuthorizer lists the fields in which got differs from want.
func diffAuthorizer(want, got *wxtoken.Authorizer) []string {
	if got == nil {
		return []string{"got nil authorizer"}
	}
	var d []string
	field := func(name string, eq bool, w, g any) {
		if !eq {
			d = append(d, fmt.Sprintf("%s: got %v, want %v", name, g, w))
		}
	}
	// Secrets are compared but only described, so a failing run does not
	// print them into CI logs.
	secret := func(name string, w, g string) {
		if w != g {
			d = append(d, fmt.Sprintf("%s: got %s (len %d), want %s (len %d)", name, wxtoken.Redact(g), len(g), wxtoken.Redact(w), len(w)))
		}
	}
	field("ComponentAppID", want.ComponentAppID == got.ComponentAppID, want.ComponentAppID, got.ComponentAppID)
	field("AppID", want.AppID == got.AppID, want.AppID, got.AppID)
	field("State", want.State == got.State, want.State, got.State)
	secret("RefreshToken", want.RefreshToken, got.RefreshToken)
	secret("AccessToken.Value", want.AccessToken.Value, got.AccessToken.Value)
	field("AccessToken.ExpiresAt", sameTime(want.AccessToken.ExpiresAt, got.AccessToken.ExpiresAt), want.AccessToken.ExpiresAt, got.AccessToken.ExpiresAt)
	field("FuncInfo", slices.Equal(want.FuncInfo, got.FuncInfo), want.FuncInfo, got.FuncInfo)

	wi, gi := want.Info, got.Info
	field("Info.NickName", wi.NickName == gi.NickName, wi.NickName, gi.NickName)
	field("Info.HeadImg", wi.HeadImg == gi.HeadImg, wi.HeadImg, gi.HeadImg)
	field("Info.ServiceType", wi.ServiceType == gi.ServiceType, wi.ServiceType, gi.ServiceType)
	field("Info.VerifyType", wi.VerifyType == gi.VerifyType, wi.VerifyType, gi.VerifyType)
	field("Info.UserName", wi.UserName == gi.UserName, wi.UserName, gi.UserName)
	field("Info.Alias", wi.Alias == gi.Alias, wi.Alias, gi.Alias)
	field("Info.QRCodeURL", wi.QRCodeURL == gi.QRCodeURL, wi.QRCodeURL, gi.QRCodeURL)
	field("Info.PrincipalName", wi.PrincipalName == gi.PrincipalName, wi.PrincipalName, gi.PrincipalName)
	field("Info.Signature", wi.Signature == gi.Signature, wi.Signature, gi.Signature)
	field("Info.AccountStatus", wi.AccountStatus == gi.AccountStatus, wi.AccountStatus, gi.AccountStatus)
	field("Info.FetchedAt", sameTime(wi.FetchedAt, gi.FetchedAt), wi.FetchedAt, gi.FetchedAt)
	switch {
	case wi.MiniProgram == nil && gi.MiniProgram == nil:
	case wi.MiniProgram == nil || gi.MiniProgram == nil:
		d = append(d, fmt.Sprintf("Info.MiniProgram: got %+v, want %+v", gi.MiniProgram, wi.MiniProgram))
	default:
		wm, gm := wi.MiniProgram, gi.MiniProgram
		field("Info.MiniProgram.Categories", slices.Equal(wm.Categories, gm.Categories), wm.Categories, gm.Categories)
		field("Info.MiniProgram.VisitStatus", wm.VisitStatus == gm.VisitStatus, wm.VisitStatus, gm.VisitStatus)
	}

	field("AuthorizedAt", sameTime(want.AuthorizedAt, got.AuthorizedAt), want.AuthorizedAt, got.AuthorizedAt)
	field("LastRefreshAt", sameTime(want.LastRefreshAt, got.LastRefreshAt), want.LastRefreshAt, got.LastRefreshAt)
	field("LastError", want.LastError == got.LastError, want.LastError, got.LastError)
	field("UpdatedAt", sameTime(want.UpdatedAt, got.UpdatedAt), want.UpdatedAt, got.UpdatedAt)
	field("LastEventAt", sameTime(want.LastEventAt, got.LastEventAt), want.LastEventAt, got.LastEventAt)
	field("AuthCodeDigest", want.AuthCodeDigest == got.AuthCodeDigest, want.AuthCodeDigest, got.AuthCodeDigest)
	field("Version", want.Version == got.Version, want.Version, got.Version)
	return d
}

func checkAuthorizer(t *testing.T, what string, want, got *wxtoken.Authorizer) {
	t.Helper()
	for _, d := range diffAuthorizer(want, got) {
		t.Errorf("%s: %s", what, d)
	}
}

func appIDs(as []*wxtoken.Authorizer) []string {
	ids := make([]string, len(as))
	for i, a := range as {
		ids[i] = a.AppID
	}
	return ids
}

func testPing(t *testing.T, s wxtoken.Store) {
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func testNotFound(t *testing.T, s wxtoken.Store) {
	ctx := t.Context()
	comp := componentID(t)
	// A record of another component must not satisfy a lookup.
	other := componentID(t)
	if _, err := s.PutTicket(ctx, wxtoken.Ticket{ComponentAppID: other, Value: "ticket@@@other", CreatedAt: base, ReceivedAt: base}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutComponentToken(ctx, wxtoken.ComponentToken{ComponentAppID: other, Token: wxtoken.Token{Value: "60_other", ExpiresAt: base}, ObtainedAt: base}); err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, simpleAuthorizer(other, authorizerID(1), wxtoken.StateAuthorized, base))

	tests := []struct {
		name string
		call func() error
	}{
		{"GetTicket", func() error { _, err := s.GetTicket(ctx, comp); return err }},
		{"GetComponentToken", func() error { _, err := s.GetComponentToken(ctx, comp); return err }},
		{"GetAuthorizer/other component", func() error { _, err := s.GetAuthorizer(ctx, comp, authorizerID(1)); return err }},
		{"GetAuthorizer/unknown appid", func() error { _, err := s.GetAuthorizer(ctx, other, authorizerID(2)); return err }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantCode(t, tc.name, tc.call(), wxtoken.ENotFound)
		})
	}
}

func testTicket(t *testing.T, s wxtoken.Store) {
	ctx := t.Context()
	comp, other := componentID(t), componentID(t)
	steps := []struct {
		name       string
		value      string
		createdAt  time.Time
		wantStored bool
		wantValue  string
	}{
		{"first", "ticket@@@first", base, true, "ticket@@@first"},
		{"newer replaces", "ticket@@@second", base.Add(10 * time.Minute), true, "ticket@@@second"},
		{"late older push is ignored", "ticket@@@stale", base.Add(5 * time.Minute), false, "ticket@@@second"},
		{"much older push is ignored", "ticket@@@ancient", base.Add(-12 * time.Hour), false, "ticket@@@second"},
		{"same CreatedAt is a re-push and is stored", "ticket@@@second-again", base.Add(10 * time.Minute), true, "ticket@@@second-again"},
		{"newer again", "ticket@@@third", base.Add(20 * time.Minute).In(shanghai), true, "ticket@@@third"},
	}
	want := map[string]wxtoken.Ticket{}
	for i, st := range steps {
		tk := wxtoken.Ticket{
			ComponentAppID: comp,
			Value:          st.value,
			CreatedAt:      st.createdAt,
			ReceivedAt:     base.Add(time.Duration(i) * time.Hour).Add(7 * time.Millisecond),
		}
		stored, err := s.PutTicket(ctx, tk)
		if err != nil {
			t.Fatalf("%s: PutTicket: %v", st.name, err)
		}
		if stored != st.wantStored {
			t.Errorf("%s: PutTicket stored = %v, want %v", st.name, stored, st.wantStored)
		}
		if stored {
			want[comp] = tk
		}
		got, err := s.GetTicket(ctx, comp)
		if err != nil {
			t.Fatalf("%s: GetTicket: %v", st.name, err)
		}
		w := want[comp]
		if got.Value != st.wantValue || got.ComponentAppID != comp || !got.CreatedAt.Equal(w.CreatedAt) || !got.ReceivedAt.Equal(w.ReceivedAt) {
			t.Errorf("%s: GetTicket = {%s %s created %v received %v}, want {%s %s created %v received %v}", st.name,
				got.ComponentAppID, wxtoken.Redact(got.Value), got.CreatedAt, got.ReceivedAt,
				comp, wxtoken.Redact(st.wantValue), w.CreatedAt, w.ReceivedAt)
		}
	}

	// Tickets are keyed by component: an older ticket of another platform is
	// stored, and neither disturbs the other.
	otherTicket := wxtoken.Ticket{ComponentAppID: other, Value: "ticket@@@other-platform", CreatedAt: base.Add(-time.Hour), ReceivedAt: base}
	if stored, err := s.PutTicket(ctx, otherTicket); err != nil || !stored {
		t.Fatalf("PutTicket(other component) = %v, %v; want true, nil", stored, err)
	}
	if got, err := s.GetTicket(ctx, other); err != nil || got.Value != otherTicket.Value {
		t.Errorf("GetTicket(other) = %s, %v; want %s", wxtoken.Redact(got.Value), err, wxtoken.Redact(otherTicket.Value))
	}
	if got, err := s.GetTicket(ctx, comp); err != nil || got.Value != "ticket@@@third" {
		t.Errorf("GetTicket(comp) after other component's put = %s, %v; want the third ticket", wxtoken.Redact(got.Value), err)
	}
}

func testComponentToken(t *testing.T, s wxtoken.Store) {
	ctx := t.Context()
	comp, other := componentID(t), componentID(t)
	puts := []wxtoken.ComponentToken{
		{ComponentAppID: comp, Token: wxtoken.Token{Value: "60_firstComponentToken", ExpiresAt: base.Add(2 * time.Hour)}, ObtainedAt: base},
		// A later put replaces whatever is stored: the engine only writes
		// under the component lease, so there is no ordering to keep.
		{ComponentAppID: comp, Token: wxtoken.Token{Value: "60_secondComponentToken", ExpiresAt: base.Add(4 * time.Hour).In(shanghai)}, ObtainedAt: base.Add(2*time.Hour + 3*time.Millisecond)},
		{ComponentAppID: other, Token: wxtoken.Token{Value: "60_otherPlatform", ExpiresAt: base.Add(time.Hour)}, ObtainedAt: base.Add(-time.Hour)},
	}
	want := map[string]wxtoken.ComponentToken{}
	for i, p := range puts {
		if err := s.PutComponentToken(ctx, p); err != nil {
			t.Fatalf("put %d: PutComponentToken: %v", i, err)
		}
		want[p.ComponentAppID] = p
		for id, w := range want {
			got, err := s.GetComponentToken(ctx, id)
			if err != nil {
				t.Fatalf("put %d: GetComponentToken(%s): %v", i, id, err)
			}
			if got.ComponentAppID != id || got.Value != w.Value || !got.ExpiresAt.Equal(w.ExpiresAt) || !got.ObtainedAt.Equal(w.ObtainedAt) {
				t.Errorf("put %d: GetComponentToken(%s) = {%s %s expires %v obtained %v}, want {%s %s expires %v obtained %v}", i, id,
					got.ComponentAppID, wxtoken.Redact(got.Value), got.ExpiresAt, got.ObtainedAt,
					id, wxtoken.Redact(w.Value), w.ExpiresAt, w.ObtainedAt)
			}
		}
	}
}

func testAuthorizerRoundTrip(t *testing.T, s wxtoken.Store) {
	comp := componentID(t)
	minimal := &wxtoken.Authorizer{
		ComponentAppID: comp,
		AppID:          authorizerID(2),
		State:          wxtoken.StateNeedsReauthorization,
		RefreshToken:   "refreshtoken@@@minimal",
	}
	tests := []struct {
		name   string
		create *wxtoken.Authorizer
		// update, when set, rewrites the record after create; it receives a
		// copy of the created record.
		update func(a *wxtoken.Authorizer)
	}{
		{name: "every field", create: fullAuthorizer(comp, authorizerID(1))},
		{name: "zero values stay zero", create: minimal},
		{
			name:   "update replaces every field",
			create: fullAuthorizer(comp, authorizerID(3)),
			update: func(a *wxtoken.Authorizer) {
				a.State = wxtoken.StateAuthorized
				a.RefreshToken = "refreshtoken@@@rotated-R2"
				a.AccessToken = wxtoken.Token{Value: "50_newAccessToken", ExpiresAt: base.Add(4 * time.Hour)}
				a.FuncInfo = []int{2}
				a.Info.NickName = "renamed"
				a.Info.MiniProgram.Categories = a.Info.MiniProgram.Categories[:1]
				a.Info.MiniProgram.VisitStatus = 0
				a.LastRefreshAt = base.Add(2 * time.Hour)
				a.LastError = ""
				a.UpdatedAt = base.Add(2 * time.Hour)
				a.LastEventAt = base
				a.AuthCodeDigest = digest("queryauthcode@@@second")
			},
		},
		{
			// A revocation erases tokens and account details: a store that
			// merges instead of replacing would keep them.
			name:   "update clears fields",
			create: fullAuthorizer(comp, authorizerID(4)),
			update: func(a *wxtoken.Authorizer) {
				a.State = wxtoken.StateRevoked
				a.RefreshToken = ""
				a.AccessToken = wxtoken.Token{}
				a.FuncInfo = nil
				a.Info = wxtoken.AccountInfo{}
				a.LastRefreshAt = time.Time{}
				a.LastEventAt = time.Time{}
				a.AuthCodeDigest = ""
				a.LastError = ""
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.create.Clone()
			mustPut(t, s, tc.create)
			want.Version = tc.create.Version
			checkAuthorizer(t, "after create", want, mustGet(t, s, comp, want.AppID))
			if tc.update == nil {
				return
			}
			upd := want.Clone()
			tc.update(upd)
			want = upd.Clone()
			mustPut(t, s, upd)
			want.Version = upd.Version
			got := mustGet(t, s, comp, want.AppID)
			checkAuthorizer(t, "after update", want, got)

			// What the store hands out is the caller's own copy.
			got.FuncInfo = append(got.FuncInfo, 999)
			got.RefreshToken = "changed by caller"
			checkAuthorizer(t, "after changing a returned copy", want, mustGet(t, s, comp, want.AppID))
		})
	}
}

func testAuthorizerCAS(t *testing.T, s wxtoken.Store) {
	ctx := t.Context()
	comp := componentID(t)
	orig := fullAuthorizer(comp, authorizerID(1))
	mustPut(t, s, orig)
	v1 := orig.Version
	stored := orig.Clone()

	steps := []struct {
		name    string
		version int64
		// wantOK: the write wins and the stored record becomes it.
		wantOK bool
	}{
		{"second create conflicts", 0, false},
		{"future version conflicts", v1 + 1, false},
		{"current version wins", v1, true},
		{"now-stale version conflicts", v1, false},
	}
	for i, st := range steps {
		a := stored.Clone()
		a.Version = st.version
		a.RefreshToken = fmt.Sprintf("refreshtoken@@@step-%d", i)
		a.LastError = st.name
		err := s.PutAuthorizer(ctx, a)
		if st.wantOK {
			if err != nil {
				t.Fatalf("%s: PutAuthorizer: %v", st.name, err)
			}
			if a.Version <= st.version {
				t.Fatalf("%s: version went from %d to %d, want it to increase", st.name, st.version, a.Version)
			}
			stored = a.Clone()
		} else {
			wantCode(t, st.name, err, wxtoken.EConflict)
			if a.Version != st.version {
				t.Errorf("%s: a failed PutAuthorizer changed the caller's Version from %d to %d", st.name, st.version, a.Version)
			}
		}
		checkAuthorizer(t, st.name, stored, mustGet(t, s, comp, orig.AppID))
	}

	// Updating a record that does not exist is a lost compare-and-set, and
	// creates nothing.
	ghost := fullAuthorizer(comp, authorizerID(2))
	ghost.Version = 3
	wantCode(t, "update of a missing authorizer", s.PutAuthorizer(ctx, ghost), wxtoken.EConflict)
	_, err := s.GetAuthorizer(ctx, comp, ghost.AppID)
	wantCode(t, "GetAuthorizer after failed update of a missing authorizer", err, wxtoken.ENotFound)
}

func testAuthorizerIsolation(t *testing.T, s wxtoken.Store) {
	// Two platforms can both be authorized by the same account; their records
	// and versions are separate.
	compA, compB := componentID(t), componentID(t)
	app := authorizerID(7)
	a := fullAuthorizer(compA, app)
	b := simpleAuthorizer(compB, app, wxtoken.StateAuthorized, base.Add(time.Hour))
	mustPut(t, s, a)
	mustPut(t, s, b)
	b2 := b.Clone()
	b2.RefreshToken = "refreshtoken@@@b-rotated"
	mustPut(t, s, b2)
	checkAuthorizer(t, "component A", a, mustGet(t, s, compA, app))
	checkAuthorizer(t, "component B", b2, mustGet(t, s, compB, app))
}

func testListAuthorizers(t *testing.T, s wxtoken.Store) {
	ctx := t.Context()
	compA, compB := componentID(t), componentID(t)
	states := map[int]wxtoken.AuthorizerState{
		1: wxtoken.StateAuthorized,
		2: wxtoken.StateRevoked,
		3: wxtoken.StateAuthorized,
		4: wxtoken.StateNeedsReauthorization,
		5: wxtoken.StateAuthorized,
		6: wxtoken.StateRevoked,
		7: wxtoken.StateAuthorized,
	}
	records := map[string]*wxtoken.Authorizer{}
	// Created out of order, so that insertion order is not AppID order.
	for _, i := range []int{5, 2, 7, 1, 4, 6, 3} {
		a := fullAuthorizer(compA, authorizerID(i*10))
		a.State = states[i]
		mustPut(t, s, a)
		records[a.AppID] = a
	}
	// Component B's appids interleave with A's.
	for _, i := range []int{15, 35} {
		mustPut(t, s, simpleAuthorizer(compB, authorizerID(i), wxtoken.StateAuthorized, base))
	}
	id := func(is ...int) []string {
		out := []string{}
		for _, i := range is {
			out = append(out, authorizerID(i))
		}
		return out
	}
	tests := []struct {
		name string
		f    wxtoken.AuthorizerFilter
		want []string
	}{
		{"all of A", wxtoken.AuthorizerFilter{ComponentAppID: compA}, id(10, 20, 30, 40, 50, 60, 70)},
		{"first page", wxtoken.AuthorizerFilter{ComponentAppID: compA, Limit: 3}, id(10, 20, 30)},
		{"second page", wxtoken.AuthorizerFilter{ComponentAppID: compA, After: authorizerID(30), Limit: 3}, id(40, 50, 60)},
		{"last page", wxtoken.AuthorizerFilter{ComponentAppID: compA, After: authorizerID(60), Limit: 3}, id(70)},
		{"past the end", wxtoken.AuthorizerFilter{ComponentAppID: compA, After: authorizerID(70), Limit: 3}, id()},
		{"after an appid that is not stored", wxtoken.AuthorizerFilter{ComponentAppID: compA, After: authorizerID(45)}, id(50, 60, 70)},
		{"state authorized", wxtoken.AuthorizerFilter{ComponentAppID: compA, State: wxtoken.StateAuthorized}, id(10, 30, 50, 70)},
		{"state revoked", wxtoken.AuthorizerFilter{ComponentAppID: compA, State: wxtoken.StateRevoked}, id(20, 60)},
		{"state needs reauthorization", wxtoken.AuthorizerFilter{ComponentAppID: compA, State: wxtoken.StateNeedsReauthorization}, id(40)},
		{"state with paging", wxtoken.AuthorizerFilter{ComponentAppID: compA, State: wxtoken.StateAuthorized, After: authorizerID(10), Limit: 2}, id(30, 50)},
		{"component B", wxtoken.AuthorizerFilter{ComponentAppID: compB}, id(15, 35)},
		{"unknown component", wxtoken.AuthorizerFilter{ComponentAppID: componentID(t)}, id()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ListAuthorizers(ctx, tc.f)
			if err != nil {
				t.Fatalf("ListAuthorizers(%+v): %v", tc.f, err)
			}
			if ids := appIDs(got); !slices.Equal(ids, tc.want) {
				t.Fatalf("ListAuthorizers(%+v) = %v, want %v", tc.f, ids, tc.want)
			}
			for _, a := range got {
				if a.ComponentAppID == compA {
					checkAuthorizer(t, "listed "+a.AppID, records[a.AppID], a)
				}
			}
		})
	}
}

func testListAuthorizersDefaultLimit(t *testing.T, s wxtoken.Store) {
	ctx := t.Context()
	comp := componentID(t)
	const n = 103
	for i := range n {
		mustPut(t, s, simpleAuthorizer(comp, authorizerID(i), wxtoken.StateAuthorized, base))
	}
	first, err := s.ListAuthorizers(ctx, wxtoken.AuthorizerFilter{ComponentAppID: comp})
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 100 {
		t.Fatalf("Limit 0 returned %d authorizers, want 100", len(first))
	}
	rest, err := s.ListAuthorizers(ctx, wxtoken.AuthorizerFilter{ComponentAppID: comp, After: first[len(first)-1].AppID})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range n {
		want = append(want, authorizerID(i))
	}
	if got := appIDs(append(first, rest...)); !slices.Equal(got, want) {
		t.Fatalf("two pages = %v, want %v", got, want)
	}
}

func testDueAuthorizers(t *testing.T, s wxtoken.Store) {
	ctx := t.Context()
	compA, compB := componentID(t), componentID(t)
	records := map[string]*wxtoken.Authorizer{}
	put := func(comp string, i int, st wxtoken.AuthorizerState, expires time.Time) {
		a := simpleAuthorizer(comp, authorizerID(i), st, expires)
		mustPut(t, s, a)
		records[comp+"/"+a.AppID] = a
	}
	// Insertion order and AppID order both differ from expiry order.
	put(compA, 1, wxtoken.StateAuthorized, base.Add(time.Hour))               // later
	put(compA, 2, wxtoken.StateAuthorized, base.Add(-time.Millisecond))       // due, last
	put(compA, 3, wxtoken.StateRevoked, base.Add(-2*time.Hour))               // not authorized
	put(compA, 4, wxtoken.StateAuthorized, base)                              // exactly at "before": not due
	put(compA, 5, wxtoken.StateAuthorized, base.Add(-time.Hour).In(shanghai)) // due, second
	put(compA, 6, wxtoken.StateNeedsReauthorization, time.Time{})             // not authorized
	put(compA, 7, wxtoken.StateAuthorized, time.Time{})                       // no token: first
	put(compB, 8, wxtoken.StateAuthorized, base.Add(-3*time.Hour))            // other platform

	check := func(t *testing.T, comp string, before time.Time, limit int, want []int) {
		t.Helper()
		got, err := s.DueAuthorizers(ctx, comp, before, limit)
		if err != nil {
			t.Fatalf("DueAuthorizers: %v", err)
		}
		var wantIDs []string
		for _, i := range want {
			wantIDs = append(wantIDs, authorizerID(i))
		}
		if ids := appIDs(got); !slices.Equal(ids, wantIDs) && !(len(ids) == 0 && len(wantIDs) == 0) {
			t.Fatalf("DueAuthorizers(before %v, limit %d) = %v, want %v", before, limit, ids, wantIDs)
		}
		for _, a := range got {
			checkAuthorizer(t, "due "+a.AppID, records[comp+"/"+a.AppID], a)
		}
	}
	tests := []struct {
		name   string
		comp   string
		before time.Time
		limit  int
		want   []int
	}{
		{"due now", compA, base, 10, []int{7, 5, 2}},
		{"limit", compA, base, 2, []int{7, 5}},
		{"limit one", compA, base, 1, []int{7}},
		{"later horizon", compA, base.Add(2 * time.Hour), 10, []int{7, 5, 2, 4, 1}},
		{"early horizon", compA, base.Add(-90 * time.Minute), 10, []int{7}},
		{"other platform", compB, base, 10, []int{8}},
		{"unknown platform", componentID(t), base, 10, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { check(t, tc.comp, tc.before, tc.limit, tc.want) })
	}

	// The due index follows writes: a refresh moves an authorizer out, a
	// revocation removes it, a shortened expiry brings one in.
	t.Run("index follows writes", func(t *testing.T) {
		refreshed := records[compA+"/"+authorizerID(7)].Clone()
		refreshed.AccessToken = wxtoken.Token{Value: "50_refreshed", ExpiresAt: base.Add(90 * time.Minute)}
		mustPut(t, s, refreshed)
		records[compA+"/"+refreshed.AppID] = refreshed

		revoked := records[compA+"/"+authorizerID(5)].Clone()
		revoked.State = wxtoken.StateRevoked
		revoked.AccessToken = wxtoken.Token{}
		mustPut(t, s, revoked)
		records[compA+"/"+revoked.AppID] = revoked

		shortened := records[compA+"/"+authorizerID(1)].Clone()
		shortened.AccessToken.ExpiresAt = base.Add(-30 * time.Minute)
		mustPut(t, s, shortened)
		records[compA+"/"+shortened.AppID] = shortened

		check(t, compA, base, 10, []int{1, 2})
		check(t, compA, base.Add(2*time.Hour), 10, []int{1, 2, 4, 7})
	})
}

// testDueBelowAMillisecond: the rest of the suite writes whole milliseconds;
// real clocks do not, and "before" stays strict at any precision.
func testDueBelowAMillisecond(t *testing.T, s wxtoken.Store) {
	ctx := t.Context()
	comp := componentID(t)
	before := time.Date(2031, 3, 4, 5, 6, 7, 123_400_000, time.UTC)
	expiries := map[string]time.Time{
		"wxsubms000000001": before.Add(-300 * time.Microsecond),  // same millisecond, earlier: due
		"wxsubms000000002": before.Add(300 * time.Microsecond),   // same millisecond, later: not due
		"wxsubms000000003": before.Add(-1),                       // one nanosecond earlier: due, last
		"wxsubms000000004": before,                               // exactly at before: not due
		"wxsubms000000005": before.Add(-1300 * time.Microsecond), // previous millisecond: due, first
	}
	for id, exp := range expiries {
		a := &wxtoken.Authorizer{ComponentAppID: comp, AppID: id, State: wxtoken.StateAuthorized,
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
		got, err := s.DueAuthorizers(ctx, comp, before, tt.limit)
		if err != nil {
			t.Fatal(err)
		}
		if ids := appIDs(got); !slices.Equal(ids, tt.want) {
			t.Errorf("DueAuthorizers(limit %d) = %v, want %v", tt.limit, ids, tt.want)
		}
	}
}

func testLease(t *testing.T, s wxtoken.Store) {
	ctx := t.Context()
	comp := componentID(t)
	name := wxtoken.AuthorizerLease(comp, authorizerID(1))
	const ttl = 30 * time.Second
	at := func(d time.Duration) time.Time { return base.Add(d) }
	ms := time.Millisecond

	type step struct {
		name    string
		release bool // ReleaseLease instead of AcquireLease
		owner   string
		now     time.Time
		wantOK  bool      // for acquire: it succeeds
		wantExp time.Time // for a successful acquire
	}
	steps := []step{
		{name: "free lease is taken", owner: "a", now: at(0), wantOK: true, wantExp: at(ttl)},
		{name: "held by another owner", owner: "b", now: at(10 * time.Second)},
		{name: "holder renews", owner: "a", now: at(10 * time.Second), wantOK: true, wantExp: at(10*time.Second + ttl)},
		{name: "still held just before the renewed expiry", owner: "b", now: at(10*time.Second + ttl - ms)},
		{name: "release by a non-owner is a no-op", release: true, owner: "b"},
		{name: "still held after the non-owner's release", owner: "c", now: at(20 * time.Second)},
		{name: "expired lease is taken over", owner: "b", now: at(10*time.Second + ttl + ms), wantOK: true, wantExp: at(10*time.Second + 2*ttl + ms)},
		{name: "former holder has lost it", owner: "a", now: at(41 * time.Second)},
		{name: "former holder's release is a no-op", release: true, owner: "a"},
		{name: "held by the new owner", owner: "c", now: at(42 * time.Second)},
		{name: "holder releases", release: true, owner: "b"},
		{name: "released lease is free at once", owner: "c", now: at(42 * time.Second), wantOK: true, wantExp: at(42*time.Second + ttl)},
		{name: "releasing twice is not an error", release: true, owner: "c"},
		{name: "free again", owner: "a", now: at(43 * time.Second), wantOK: true, wantExp: at(43*time.Second + ttl)},
	}
	for _, st := range steps {
		if st.release {
			if err := s.ReleaseLease(ctx, name, st.owner); err != nil {
				t.Fatalf("%s: ReleaseLease(%s): %v", st.name, st.owner, err)
			}
			continue
		}
		l, err := s.AcquireLease(ctx, name, st.owner, st.now, ttl)
		if !st.wantOK {
			wantCode(t, st.name, err, wxtoken.EConflict)
			continue
		}
		if err != nil {
			t.Fatalf("%s: AcquireLease(%s): %v", st.name, st.owner, err)
		}
		if l.Name != name || l.Owner != st.owner || !l.ExpiresAt.Equal(st.wantExp) {
			t.Fatalf("%s: AcquireLease = %+v, want {%s %s %v}", st.name, l, name, st.owner, st.wantExp)
		}
	}

	// Leases are independent of each other, and releasing one that never
	// existed is not an error.
	otherName := wxtoken.ComponentTokenLease(comp)
	if _, err := s.AcquireLease(ctx, otherName, "b", at(43*time.Second), ttl); err != nil {
		t.Fatalf("AcquireLease of another name while the first is held: %v", err)
	}
	if err := s.ReleaseLease(ctx, wxtoken.ComponentTokenLease(componentID(t)), "nobody"); err != nil {
		t.Fatalf("ReleaseLease of a lease never taken: %v", err)
	}
}

func testEvents(t *testing.T, s wxtoken.Store) {
	ctx := t.Context()
	compA, compB := componentID(t), componentID(t)
	app1, app2 := authorizerID(1), authorizerID(2)
	events := []*wxtoken.Event{
		{ComponentAppID: compA, Kind: wxtoken.EventTicketReceived, At: base},
		{ComponentAppID: compA, AuthorizerAppID: app1, Kind: wxtoken.EventAuthorized, Detail: "func_info 1,15", At: base.Add(time.Second)},
		{ComponentAppID: compB, Kind: wxtoken.EventComponentTokenRefresh, At: base.Add(2 * time.Second)},
		{ComponentAppID: compA, AuthorizerAppID: app2, Kind: wxtoken.EventAuthorized, At: base.Add(3 * time.Second).In(shanghai)},
		{ComponentAppID: compA, AuthorizerAppID: app1, Kind: wxtoken.EventAuthorizerRefresh, Detail: "expires in 7200s; 中文", At: base.Add(4 * time.Second)},
		{ComponentAppID: compA, AuthorizerAppID: app1, Kind: wxtoken.EventRevoked, At: base.Add(5 * time.Second)},
		{ComponentAppID: compB, AuthorizerAppID: app1, Kind: wxtoken.EventAuthorized, At: base.Add(6 * time.Second)},
	}
	var last int64
	for i, e := range events {
		if err := s.AppendEvent(ctx, e); err != nil {
			t.Fatalf("AppendEvent %d: %v", i, err)
		}
		if e.ID <= last {
			t.Fatalf("AppendEvent %d: ID %d, want more than the previous %d", i, e.ID, last)
		}
		last = e.ID
	}
	idOf := func(is ...int) []int64 {
		out := []int64{}
		for _, i := range is {
			out = append(out, events[i].ID)
		}
		return out
	}
	tests := []struct {
		name string
		f    wxtoken.EventFilter
		want []int64
	}{
		{"component A", wxtoken.EventFilter{ComponentAppID: compA}, idOf(0, 1, 3, 4, 5)},
		{"component B", wxtoken.EventFilter{ComponentAppID: compB}, idOf(2, 6)},
		{"authorizer within component", wxtoken.EventFilter{ComponentAppID: compA, AuthorizerAppID: app1}, idOf(1, 4, 5)},
		{"after id", wxtoken.EventFilter{ComponentAppID: compA, AfterID: events[1].ID}, idOf(3, 4, 5)},
		{"limit", wxtoken.EventFilter{ComponentAppID: compA, Limit: 2}, idOf(0, 1)},
		{"after id and limit", wxtoken.EventFilter{ComponentAppID: compA, AfterID: events[1].ID, Limit: 2}, idOf(3, 4)},
		{"authorizer, after id", wxtoken.EventFilter{ComponentAppID: compA, AuthorizerAppID: app1, AfterID: events[1].ID}, idOf(4, 5)},
		{"past the end", wxtoken.EventFilter{ComponentAppID: compA, AfterID: events[6].ID}, idOf()},
		{"unknown component", wxtoken.EventFilter{ComponentAppID: componentID(t)}, idOf()},
	}
	byID := map[int64]*wxtoken.Event{}
	for _, e := range events {
		byID[e.ID] = e
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ListEvents(ctx, tc.f)
			if err != nil {
				t.Fatalf("ListEvents(%+v): %v", tc.f, err)
			}
			ids := []int64{}
			for _, e := range got {
				ids = append(ids, e.ID)
			}
			if !slices.Equal(ids, tc.want) {
				t.Fatalf("ListEvents(%+v) = IDs %v, want %v", tc.f, ids, tc.want)
			}
			for _, g := range got {
				w := byID[g.ID]
				if g.ComponentAppID != w.ComponentAppID || g.AuthorizerAppID != w.AuthorizerAppID || g.Kind != w.Kind || g.Detail != w.Detail || !g.At.Equal(w.At) {
					t.Errorf("event %d = %+v, want %+v", g.ID, *g, *w)
				}
			}
		})
	}
}

// deliveryTimeout bounds the real time a Watch delivery may take.
const deliveryTimeout = 5 * time.Second

// waitChange reads ch until a change matching want arrives, skipping others
// (and resyncs, which a store may send at any time).
func waitChange(t *testing.T, ch <-chan wxtoken.Change, want wxtoken.Change) {
	t.Helper()
	timeout := time.NewTimer(deliveryTimeout)
	defer timeout.Stop()
	for {
		select {
		case c, ok := <-ch:
			if !ok {
				t.Fatalf("watch channel closed while waiting for %+v", want)
			}
			if c == want {
				return
			}
		case <-timeout.C:
			t.Fatalf("no %+v within %v", want, deliveryTimeout)
		}
	}
}

func testWatch(t *testing.T, s wxtoken.Store) {
	ctx := t.Context()
	comp := componentID(t)
	watchCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Two watchers: every write reaches each of them.
	var chans []<-chan wxtoken.Change
	for range 2 {
		ch, err := s.Watch(watchCtx)
		if err != nil {
			t.Fatalf("Watch: %v", err)
		}
		chans = append(chans, ch)
	}

	a := fullAuthorizer(comp, authorizerID(1))
	writes := []struct {
		name  string
		write func() error
		want  func() wxtoken.Change
	}{
		{
			"ticket",
			func() error {
				_, err := s.PutTicket(ctx, wxtoken.Ticket{ComponentAppID: comp, Value: "ticket@@@watch", CreatedAt: base, ReceivedAt: base})
				return err
			},
			func() wxtoken.Change { return wxtoken.Change{Kind: wxtoken.ChangeTicket, ComponentAppID: comp} },
		},
		{
			"component token",
			func() error {
				return s.PutComponentToken(ctx, wxtoken.ComponentToken{ComponentAppID: comp, Token: wxtoken.Token{Value: "60_watch", ExpiresAt: base}, ObtainedAt: base})
			},
			func() wxtoken.Change { return wxtoken.Change{Kind: wxtoken.ChangeComponentToken, ComponentAppID: comp} },
		},
		{
			"authorizer created",
			func() error { return s.PutAuthorizer(ctx, a) },
			func() wxtoken.Change {
				return wxtoken.Change{Kind: wxtoken.ChangeAuthorizer, ComponentAppID: comp, AppID: a.AppID, Version: a.Version}
			},
		},
		{
			"authorizer updated",
			func() error { a.RefreshToken = "refreshtoken@@@watch-2"; return s.PutAuthorizer(ctx, a) },
			func() wxtoken.Change {
				return wxtoken.Change{Kind: wxtoken.ChangeAuthorizer, ComponentAppID: comp, AppID: a.AppID, Version: a.Version}
			},
		},
	}
	for _, w := range writes {
		t.Run(w.name, func(t *testing.T) {
			if err := w.write(); err != nil {
				t.Fatalf("write: %v", err)
			}
			want := w.want()
			for _, ch := range chans {
				waitChange(t, ch, want)
			}
		})
	}

	// Once the context is done, the channel is closed so that range loops end.
	cancel()
	for i, ch := range chans {
		timeout := time.NewTimer(deliveryTimeout)
	drain:
		for {
			select {
			case _, ok := <-ch:
				if !ok {
					break drain
				}
			case <-timeout.C:
				t.Fatalf("watcher %d: channel not closed %v after its context was cancelled", i, deliveryTimeout)
			}
		}
		timeout.Stop()
	}
}
