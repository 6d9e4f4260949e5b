package postgres

import (
	"context"
	"testing"

	"github.com/wxtoken/wxtoken"
)

func TestChangeFeed(t *testing.T) {
	ticket := func(c string) wxtoken.Change { return wxtoken.Change{Kind: wxtoken.ChangeTicket, ComponentAppID: c} }
	resync := wxtoken.Change{Kind: wxtoken.ChangeResync}
	tests := []struct {
		name  string
		max   int
		input func(f *changeFeed)
		want  []wxtoken.Change
	}{
		{"in order", 4, func(f *changeFeed) { f.push(ticket("a")); f.push(ticket("b")) }, []wxtoken.Change{ticket("a"), ticket("b")}},
		{"overflow collapses into one resync", 2, func(f *changeFeed) {
			f.push(ticket("a"))
			f.push(ticket("b"))
			f.push(ticket("c")) // the reader is behind: it must reload anyway
			f.push(ticket("d"))
		}, []wxtoken.Change{resync}},
		{"changes after a delivered resync queue again", 1, func(f *changeFeed) {
			f.push(ticket("a"))
			f.push(ticket("b"))
			if c, _ := f.next(); c != resync {
				t.Errorf("next = %+v, want a resync", c)
			}
			f.push(ticket("c"))
		}, []wxtoken.Change{ticket("c")}},
		{"reconnect drops what waits", 4, func(f *changeFeed) { f.push(ticket("a")); f.pushResync(); f.push(ticket("b")) }, []wxtoken.Change{resync}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newChangeFeed(tt.max)
			tt.input(f)
			ctx, cancel := context.WithCancel(context.Background())
			out := make(chan wxtoken.Change)
			done := make(chan struct{})
			go func() { f.run(ctx, out); close(done) }()
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
