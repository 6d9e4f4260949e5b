package emulator

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"
)

// runLoop starts Run and returns step, which advances the clock by one
// interval once the loop is asleep on it, and settle, which waits until the
// loop is asleep (its pushes done).
func runLoop(t *testing.T, f *fixture) (step, settle func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.e.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v", err)
		}
	})
	settle = func() {
		t.Helper()
		wait, cancelWait := context.WithTimeout(ctx, 5*time.Second)
		defer cancelWait()
		if err := f.clock.WaitForTimers(wait, 1); err != nil {
			t.Fatal("the push loop never went to sleep")
		}
	}
	step = func() {
		t.Helper()
		settle()
		f.clock.Advance(f.cfg.TicketInterval)
	}
	return step, settle
}

// Twelve hours of scheduled pushes on a virtual clock: every push is signed,
// sealed and answered, tickets repeat TicketRepeat times, and each ticket
// works for 12 h.
func TestPushLoopTwelveHours(t *testing.T) {
	f := newFixture(t, Config{})
	step, settle := runLoop(t, f)
	const intervals = 72 // 12 h of 10 min
	for i := 0; i < intervals; i++ {
		step()
	}
	settle()
	events := f.rc.all()
	if len(events) != intervals+1 {
		t.Fatalf("%d pushes received, want %d", len(events), intervals+1)
	}
	records := f.e.Pushes()
	if len(records) != intervals+1 {
		t.Fatalf("%d push records, want %d", len(records), intervals+1)
	}
	firstTicket := events[0]["ComponentVerifyTicket"]
	distinct := map[string]bool{}
	for i, ev := range events {
		wantTime := start.Add(time.Duration(i) * f.cfg.TicketInterval).Unix()
		if ev["InfoType"] != "component_verify_ticket" || ev["AppId"] != f.cfg.ComponentAppID || ev["_envelope_appid"] != f.cfg.ComponentAppID {
			t.Fatalf("push %d: %v", i, ev)
		}
		if ev["CreateTime"] != strconv.FormatInt(wantTime, 10) || ev["_timestamp"] != ev["CreateTime"] {
			t.Fatalf("push %d: CreateTime %s timestamp %s, want %d", i, ev["CreateTime"], ev["_timestamp"], wantTime)
		}
		distinct[ev["ComponentVerifyTicket"]] = true
		if want := i/3 + 1; records[i].TicketSerial != want || !records[i].Success {
			t.Fatalf("record %d: %+v, want ticket serial %d answered success", i, records[i], want)
		}
		if i > 0 && (i%3 == 0) == (ev["ComponentVerifyTicket"] == events[i-1]["ComponentVerifyTicket"]) {
			t.Fatalf("push %d: ticket repeat rule broken", i)
		}
	}
	if len(distinct) != (intervals+1+2)/3 {
		t.Fatalf("%d distinct tickets", len(distinct))
	}
	// The first ticket was minted 12 h ago: expired. The last one works.
	f.wantErr(f.componentTokenWith(firstTicket), 61005)
	f.wantErr(f.componentTokenWith(events[len(events)-1]["ComponentVerifyTicket"]), 0)
	if c := f.e.Counters().Pushes["component_verify_ticket"]; c.Sent != intervals+1 || c.Succeeded != intervals+1 {
		t.Fatalf("push counters %+v", c)
	}
}

func TestPushPauseResume(t *testing.T) {
	f := newFixture(t, Config{})
	step, settle := runLoop(t, f)
	settle()
	if n := len(f.rc.all()); n != 1 {
		t.Fatalf("%d pushes before pausing", n)
	}
	f.e.PausePushes()
	for i := 0; i < 5; i++ {
		step()
	}
	settle()
	if n := len(f.rc.all()); n != 1 {
		t.Fatalf("%d pushes while paused, want 1", n)
	}
	// An explicit push goes through a pause.
	f.pushTicket()
	f.e.ResumePushes()
	step()
	settle()
	if n := len(f.rc.all()); n != 3 {
		t.Fatalf("%d pushes after resuming, want 3", n)
	}
}

// A ticket is re-pushed only "for a while": after a long pause the next push
// carries a new one even if the old one was pushed fewer than TicketRepeat
// times.
func TestTicketRepeatAfterPause(t *testing.T) {
	f := newFixture(t, Config{TicketRepeat: 4})
	a := f.pushTicket()
	f.clock.Advance(10 * time.Minute)
	if b := f.pushTicket(); b != a {
		t.Fatal("ticket changed before TicketRepeat pushes")
	}
	f.clock.Advance(2 * time.Hour)
	if c := f.pushTicket(); c == a {
		t.Fatal("an old ticket was re-pushed after a long pause")
	}
}

func TestPushFailures(t *testing.T) {
	f := newFixture(t, Config{PushRetries: 2})
	f.rc.setAnswer("fail")
	err := f.e.PushTicket(context.Background())
	if !errors.Is(err, ErrPushFailed) {
		t.Fatalf("PushTicket: %v, want ErrPushFailed", err)
	}
	records := f.e.Pushes()
	if len(records) != 3 {
		t.Fatalf("%d attempts, want 1 + 2 retries", len(records))
	}
	for i, r := range records {
		if r.Success || r.Attempt != i+1 || r.Answer != "fail" || r.HTTPStatus != 200 {
			t.Fatalf("attempt %d: %+v", i, r)
		}
	}
	f.rc.setAnswer("success\n")
	if err := f.e.PushTicket(context.Background()); err != nil {
		t.Fatalf("answer with a trailing newline: %v", err)
	}
	// Nothing listens: the push fails with a transport error.
	g := newFixture(t, Config{PushURL: "http://127.0.0.1:1/events"})
	if err := g.e.PushTicket(context.Background()); !errors.Is(err, ErrPushFailed) {
		t.Fatalf("unreachable URL: %v", err)
	}
	if r := g.e.Pushes()[0]; r.Error == "" || r.Success {
		t.Fatalf("record %+v", r)
	}
	h, err := New(Config{Clock: f.clock})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.PushTicket(context.Background()); !errors.Is(err, ErrNoPushURL) {
		t.Fatalf("no URL: %v", err)
	}
}

func TestEventXML(t *testing.T) {
	got := string(eventXML(field{"A", "x]]>y", false}, field{"N", "12", true}))
	want := "<xml><A><![CDATA[x]]]]><![CDATA[>y]]></A><N>12</N></xml>"
	if got != want {
		t.Fatalf("%s\nwant %s", got, want)
	}
	m, err := parseFlatXML([]byte(got))
	if err != nil || m["A"] != "x]]>y" {
		t.Fatalf("round trip: %v %v", m, err)
	}
}
