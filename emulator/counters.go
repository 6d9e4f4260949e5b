package emulator

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Counters is what the emulator saw: every call by endpoint and outcome, the
// successful refreshes of each authorizer, and the pushes by InfoType. Other
// tests prove "exactly one refresh per token lifetime" with it.
type Counters struct {
	// Calls[endpoint][outcome]: the outcome is the errcode answered ("0" for
	// success), "http_503" for an injected status, "dropped" for a dropped
	// connection. The pages count as "page" (views) and "authorize" (clicks).
	Calls map[string]map[string]int64 `json:"calls"`
	// Refreshes counts successful api_authorizer_token calls per authorizer
	// appid (accounts never refreshed are left out).
	Refreshes map[string]int64     `json:"refreshes"`
	Pushes    map[string]PushCount `json:"pushes"`
}

// PushCount counts the push attempts of one InfoType.
type PushCount struct {
	Sent      int64 `json:"sent"`
	Succeeded int64 `json:"succeeded"` // answered "success"
}

// Count returns the calls of endpoint answered with errcode (0: success).
func (c Counters) Count(endpoint string, errcode int) int64 {
	return c.Calls[endpoint][strconv.Itoa(errcode)]
}

// Total returns every call of endpoint, whatever its outcome.
func (c Counters) Total(endpoint string) int64 {
	var n int64
	for _, v := range c.Calls[endpoint] {
		n += v
	}
	return n
}

type outcome struct {
	kind uint8 // 0 errcode, 1 HTTP status, 2 dropped
	n    int
}

func outcomeCode(code int) outcome   { return outcome{0, code} }
func outcomeHTTP(status int) outcome { return outcome{1, status} }

var outcomeDropped = outcome{kind: 2}

func (o outcome) String() string {
	switch o.kind {
	case 1:
		return "http_" + strconv.Itoa(o.n)
	case 2:
		return "dropped"
	}
	return strconv.Itoa(o.n)
}

// callCounters keeps the success count of each endpoint in an atomic, since
// that is the path a scale test hammers, and everything else under a lock.
type callCounters struct {
	ok    map[string]*atomic.Int64 // fixed at New: read without a lock
	mu    sync.Mutex
	other map[string]map[outcome]int64
}

func (c *callCounters) init(names []string) {
	c.ok, c.other = map[string]*atomic.Int64{}, map[string]map[outcome]int64{}
	for _, n := range names {
		c.ok[n] = new(atomic.Int64)
	}
}

func (c *callCounters) add(endpoint string, o outcome) {
	if o == (outcome{}) {
		if n, ok := c.ok[endpoint]; ok {
			n.Add(1)
			return
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.other[endpoint]
	if m == nil {
		m = map[outcome]int64{}
		c.other[endpoint] = m
	}
	m[o]++
}

func (c *callCounters) snapshot() map[string]map[string]int64 {
	out := map[string]map[string]int64{}
	get := func(ep string) map[string]int64 {
		m := out[ep]
		if m == nil {
			m = map[string]int64{}
			out[ep] = m
		}
		return m
	}
	for ep, n := range c.ok {
		if v := n.Load(); v > 0 {
			get(ep)["0"] = v
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for ep, m := range c.other {
		for o, n := range m {
			get(ep)[o.String()] = n
		}
	}
	return out
}

// Counters returns a snapshot of the counters.
func (e *Emulator) Counters() Counters {
	c := Counters{Calls: e.counters.snapshot(), Refreshes: map[string]int64{}, Pushes: e.pushes.counts()}
	for i := range e.shards {
		sh := &e.shards[i]
		sh.mu.Lock()
		for index, a := range sh.m {
			if a.refreshes > 0 {
				c.Refreshes[e.codec.appID(index)] = a.refreshes
			}
		}
		sh.mu.Unlock()
	}
	return c
}

// Message is a message an account sent through message/custom/send.
type Message struct {
	AppID   string    `json:"appid"`
	ToUser  string    `json:"touser"`
	MsgType string    `json:"msgtype"`
	Content string    `json:"content,omitempty"` // the text of a text message
	At      time.Time `json:"at"`
}

// messageLog keeps the latest messages, so that a test (WeChat's release
// test among them) can check what a platform sent.
type messageLog struct {
	mu   sync.Mutex
	list []Message
}

const keepMessages = 1000

func (l *messageLog) add(m Message) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.list) >= keepMessages {
		l.list = append(l.list[:0], l.list[len(l.list)-keepMessages/2:]...)
	}
	l.list = append(l.list, m)
}

// Messages returns the latest messages sent on accounts' behalf, oldest first.
func (e *Emulator) Messages() []Message {
	e.messages.mu.Lock()
	defer e.messages.mu.Unlock()
	return append(make([]Message, 0, len(e.messages.list)), e.messages.list...)
}
