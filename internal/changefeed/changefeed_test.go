package changefeed

import (
	"context"
	"testing"

	"github.com/wxtoken/wxtoken"
)

func TestFeed(t *testing.T) {
	ticket := func(c string) wxtoken.Change { return wxtoken.Change{Kind: wxtoken.ChangeTicket, ComponentAppID: c} }
	resync := wxtoken.Change{Kind: wxtoken.ChangeResync}
	tests := []struct {
		name  string
		max   int
		input func(f *Feed)
		want  []wxtoken.Change
	}{
		{"in order", 4, func(f *Feed) { f.Push(ticket("a")); f.Push(ticket("b")) }, []wxtoken.Change{ticket("a"), ticket("b")}},
		{"overflow collapses into one resync", 2, func(f *Feed) {
			f.Push(ticket("a"))
			f.Push(ticket("b"))
			f.Push(ticket("c")) // the reader is behind: it must reload anyway
			f.Push(ticket("d"))
		}, []wxtoken.Change{resync}},
		{"changes after a delivered resync queue again", 1, func(f *Feed) {
			f.Push(ticket("a"))
			f.Push(ticket("b"))
			if c, _ := f.Next(); c != resync {
				t.Errorf("next = %+v, want a resync", c)
			}
			f.Push(ticket("c"))
		}, []wxtoken.Change{ticket("c")}},
		{"reconnect drops what waits", 4, func(f *Feed) { f.Push(ticket("a")); f.PushResync(); f.Push(ticket("b")) }, []wxtoken.Change{resync}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := New(tt.max)
			tt.input(f)
			ctx, cancel := context.WithCancel(context.Background())
			out := make(chan wxtoken.Change)
			done := make(chan struct{})
			go func() { f.Run(ctx, out); close(done) }()
			for i, want := range tt.want {
				if got := <-out; got != want {
					t.Errorf("change %d = %+v, want %+v", i, got, want)
				}
			}
			select {
			case extra := <-out:
				t.Errorf("unexpected change %+v", extra)
			default:
			}
			cancel()
			<-done
			if _, ok := <-out; ok {
				t.Error("out not closed after ctx is done")
			}
		})
	}
}

func TestPayloadRoundTrip(t *testing.T) {
	tests := []wxtoken.Change{
		{Kind: wxtoken.ChangeTicket, ComponentAppID: "wxcomponent"},
		{Kind: wxtoken.ChangeComponentToken, ComponentAppID: "wxcomponent"},
		{Kind: wxtoken.ChangeAuthorizer, ComponentAppID: "wxcomponent", AppID: "wxauthorizer", Version: 7},
	}
	for _, c := range tests {
		if got, ok := Decode(Encode(c)); !ok || got != c {
			t.Errorf("Decode(Encode(%+v)) = %+v, %v", c, got, ok)
		}
	}
	for _, bad := range []string{"", "not json", `{"component_appid":"wx"}`, `{"kind":1}`} {
		if c, ok := Decode(bad); ok {
			t.Errorf("Decode(%q) = %+v, want it rejected", bad, c)
		}
	}
}
