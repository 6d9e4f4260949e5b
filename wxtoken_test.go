package wxtoken_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
)

func TestErrors(t *testing.T) {
	cause := errors.New("driver said no")
	tests := []struct {
		name        string
		err         error
		wantCode    string
		wantMessage string
		wantErrCode int
	}{
		{"nil", nil, "", "", 0},
		{"plain error is internal", cause, wxtoken.EInternal, "internal error", 0},
		{"domain error", wxtoken.Errorf(wxtoken.ENotFound, "authorizer %s is not known", "wx1"), wxtoken.ENotFound, "authorizer wx1 is not known", 0},
		{"wrapped domain error", fmt.Errorf("context: %w", wxtoken.Errorf(wxtoken.EConflict, "lease held")), wxtoken.EConflict, "lease held", 0},
		{"WeChat errcode", &wxtoken.Error{Code: wxtoken.EWeChat, Message: "refused", ErrCode: 61023, Err: cause}, wxtoken.EWeChat, "refused", 61023},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := wxtoken.ErrorCode(tc.err); got != tc.wantCode {
				t.Errorf("ErrorCode = %q, want %q", got, tc.wantCode)
			}
			if got := wxtoken.ErrorMessage(tc.err); got != tc.wantMessage {
				t.Errorf("ErrorMessage = %q, want %q", got, tc.wantMessage)
			}
			if got := wxtoken.WeChatErrCode(tc.err); got != tc.wantErrCode {
				t.Errorf("WeChatErrCode = %d, want %d", got, tc.wantErrCode)
			}
		})
	}
	nf := fmt.Errorf("x: %w", wxtoken.Errorf(wxtoken.ENotFound, "gone"))
	if !errors.Is(nf, wxtoken.ErrNotFound) || errors.Is(nf, wxtoken.ErrConflict) {
		t.Error("errors.Is must match on the code alone")
	}
	withCause := &wxtoken.Error{Code: wxtoken.EUnavailable, Message: "store down", Err: cause}
	if !errors.Is(withCause, cause) {
		t.Error("the cause must stay reachable with errors.Is")
	}
}

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "****"},
		{"short", "****"},
		{"12345678", "****"},
		{"50_dZ1Cabcdefgh", "…efgh"},
	}
	for _, tc := range tests {
		if got := wxtoken.Redact(tc.in); got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if len(tc.in) > 8 && strings.Contains(wxtoken.Redact(tc.in), tc.in[:len(tc.in)-4]) {
			t.Errorf("Redact(%q) shows more than the last 4 characters", tc.in)
		}
	}
}

func TestTokenValid(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		tok  wxtoken.Token
		want bool
	}{
		{"zero", wxtoken.Token{}, false},
		{"no value", wxtoken.Token{ExpiresAt: now.Add(time.Hour)}, false},
		{"valid", wxtoken.Token{Value: "t", ExpiresAt: now.Add(time.Second)}, true},
		{"expires now", wxtoken.Token{Value: "t", ExpiresAt: now}, false},
		{"expired", wxtoken.Token{Value: "t", ExpiresAt: now.Add(-time.Second)}, false},
	}
	for _, tc := range tests {
		if got := tc.tok.Valid(now); got != tc.want {
			t.Errorf("%s: Valid = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestManualClock(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := wxtoken.NewManualClock(start)
	late := c.NewTimer(2 * time.Hour)
	early := c.NewTimer(time.Hour)
	stopped := c.NewTimer(30 * time.Minute)
	if !stopped.Stop() || stopped.Stop() {
		t.Fatal("Stop must report true once, then false")
	}
	if got := c.Pending(); got != 2 {
		t.Fatalf("pending timers %d, want 2", got)
	}
	c.Advance(90 * time.Minute)
	select {
	case at := <-early.C():
		if !at.Equal(start.Add(time.Hour)) {
			t.Errorf("timer fired at %s, want its deadline", at)
		}
	default:
		t.Fatal("a timer due within the advance did not fire")
	}
	select {
	case <-late.C():
		t.Fatal("a timer fired before its deadline")
	case <-stopped.C():
		t.Fatal("a stopped timer fired")
	default:
	}
	if !c.Now().Equal(start.Add(90 * time.Minute)) {
		t.Errorf("now %s, want start+90m", c.Now())
	}
	c.Set(start) // never backwards
	if !c.Now().Equal(start.Add(90 * time.Minute)) {
		t.Error("Set moved the clock backwards")
	}
	if immediate := c.NewTimer(0); len(immediate.C()) != 1 {
		t.Error("a timer of 0 must fire at once")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- wxtoken.Sleep(ctx, c, time.Minute) }()
	if err := c.WaitForTimers(ctx, 2); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Minute)
	if err := <-done; err != nil {
		t.Errorf("Sleep: %v", err)
	}
}

func TestScaledClocksAgree(t *testing.T) {
	origin := time.Now().Add(-time.Second)
	a := wxtoken.NewScaledClock(origin, 60)
	b := wxtoken.NewScaledClock(origin, 60)
	ta, tb := a.Now(), b.Now()
	if d := tb.Sub(ta); d < 0 || d > time.Second*60/10 {
		t.Errorf("two clocks with the same origin and scale differ by %s", d)
	}
	// One real second since origin is about a virtual minute.
	if elapsed := ta.Sub(origin); elapsed < 55*time.Second {
		t.Errorf("virtual time since origin %s, want about a minute", elapsed)
	}
}

func TestValidAppID(t *testing.T) {
	for in, want := range map[string]bool{
		"wx570bc396a51b8ff8":      true,
		"wx1234":                  false,
		"gh_3c884a361561":         false,
		"wx570bc396a51b8ff8/../x": false,
		"":                        false,
	} {
		if got := wxtoken.ValidAppID(in); got != want {
			t.Errorf("ValidAppID(%q) = %v, want %v", in, got, want)
		}
	}
}
