package emulator

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/msgcrypt"
)

// ticketState is the component_verify_tickets minted so far. Tickets are
// numbered from 1; minted[n-1] is when ticket n was minted.
type ticketState struct {
	mu              sync.Mutex
	minted          []int64
	pushesOfCurrent int
}

// checkTicket returns 0 for a ticket WeChat honours now, 61005 for an expired
// one and 61006 for anything else.
func (e *Emulator) checkTicket(ticket string, now int64) int {
	_, serial, ok := e.codec.parse(kindTicket, ticket)
	if !ok {
		return errTicketInvalid
	}
	t := &e.tickets
	t.mu.Lock()
	defer t.mu.Unlock()
	if serial == 0 || int(serial) > len(t.minted) {
		return errTicketInvalid
	}
	if now >= t.minted[serial-1]+int64(e.cfg.TicketLifetime) {
		return errTicketExpired
	}
	return 0
}

// nextTicket returns the ticket to push now: the current one again, or a new
// one when the current was pushed TicketRepeat times or is older than
// TicketRepeat intervals.
func (e *Emulator) nextTicket(now int64) uint32 {
	t := &e.tickets
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(t.minted)
	if n == 0 || t.pushesOfCurrent >= e.cfg.TicketRepeat ||
		now-t.minted[n-1] >= int64(e.cfg.TicketInterval)*int64(e.cfg.TicketRepeat) {
		t.minted = append(t.minted, now)
		t.pushesOfCurrent = 0
		n++
	}
	t.pushesOfCurrent++
	return uint32(n)
}

// Ticket returns the latest ticket minted ("" before the first push), for
// tests that check what a platform stored.
func (e *Emulator) Ticket() string {
	t := &e.tickets
	t.mu.Lock()
	n := len(t.minted)
	t.mu.Unlock()
	if n == 0 {
		return ""
	}
	return e.codec.mint(kindTicket, 0, uint32(n))
}

// PushTicket pushes a component_verify_ticket now, re-pushing the current one
// or minting a new one by the repeat rule. It returns ErrNoPushURL without a
// push URL, and an error wrapping ErrPushFailed when the push was not
// answered "success".
func (e *Emulator) PushTicket(ctx context.Context) error {
	if e.cfg.PushURL == "" {
		return ErrNoPushURL
	}
	now := e.clock.Now()
	serial := e.nextTicket(now.UnixNano())
	payload := eventXML(
		field{"AppId", e.cfg.ComponentAppID, false},
		field{"CreateTime", strconv.FormatInt(now.Unix(), 10), true},
		field{"InfoType", "component_verify_ticket", false},
		field{"ComponentVerifyTicket", e.codec.mint(kindTicket, 0, serial), false},
	)
	return e.push(ctx, PushRecord{InfoType: "component_verify_ticket", TicketSerial: int(serial)}, payload)
}

// Run pushes tickets every TicketInterval on the configured clock, the first
// at once, until ctx is done; paused pushes are skipped. It returns
// ctx.Err(). Without a push URL it only waits.
func (e *Emulator) Run(ctx context.Context) error {
	for {
		if e.cfg.PushURL != "" && !e.paused.Load() {
			if err := e.PushTicket(ctx); err != nil && ctx.Err() == nil {
				e.log.Warn("emulator: scheduled ticket push failed", "err", err)
			}
		}
		if err := wxtoken.Sleep(ctx, e.clock, e.cfg.TicketInterval); err != nil {
			return err
		}
	}
}

// PushRecord is one push attempt.
type PushRecord struct {
	InfoType        string    `json:"info_type"`
	AuthorizerAppID string    `json:"authorizer_appid,omitempty"`
	At              time.Time `json:"at"` // the emulator's time; CreateTime is its unix seconds
	// TicketSerial numbers the ticket values pushed (1, 1, 1, 2, …), so a
	// test sees the repeat rule without decrypting.
	TicketSerial int  `json:"ticket_serial,omitempty"`
	Attempt      int  `json:"attempt"` // 1, then 2… for PushRetries
	Success      bool `json:"success"` // answered HTTP 200 "success"
	HTTPStatus   int  `json:"http_status,omitempty"`
	// Answer is the start of an answer other than "success".
	Answer string `json:"answer,omitempty"`
	Error  string `json:"error,omitempty"`
}

// pushLog keeps the latest push records and counts all of them.
type pushLog struct {
	mu      sync.Mutex
	records []PushRecord
	count   map[string]PushCount
}

const keepPushes = 10000

func (l *pushLog) add(r PushRecord) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.records) >= keepPushes {
		l.records = append(l.records[:0], l.records[len(l.records)-keepPushes/2:]...)
	}
	l.records = append(l.records, r)
	if l.count == nil {
		l.count = map[string]PushCount{}
	}
	c := l.count[r.InfoType]
	c.Sent++
	if r.Success {
		c.Succeeded++
	}
	l.count[r.InfoType] = c
}

func (l *pushLog) counts() map[string]PushCount {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]PushCount, len(l.count))
	for k, v := range l.count {
		out[k] = v
	}
	return out
}

// Pushes returns the latest push attempts (up to 10000), oldest first.
func (e *Emulator) Pushes() []PushRecord {
	e.pushes.mu.Lock()
	defer e.pushes.mu.Unlock()
	return append(make([]PushRecord, 0, len(e.pushes.records)), e.pushes.records...)
}

// push seals payload and posts it to the push URL the way WeChat does, with
// PushRetries more attempts while it is not answered "success".
func (e *Emulator) push(ctx context.Context, rec PushRecord, payload []byte) error {
	var err error
	for attempt := 1; attempt <= 1+e.cfg.PushRetries; attempt++ {
		rec.Attempt = attempt
		rec.At = e.clock.Now()
		err = e.pushOnce(ctx, &rec, payload)
		e.pushes.add(rec)
		if err == nil || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		e.log.Warn("emulator: push failed", "info_type", rec.InfoType, "authorizer_appid", rec.AuthorizerAppID, "err", err)
		return err
	}
	e.log.Debug("emulator: pushed", "info_type", rec.InfoType, "authorizer_appid", rec.AuthorizerAppID)
	return nil
}

func (e *Emulator) pushOnce(ctx context.Context, rec *PushRecord, payload []byte) error {
	rec.Success, rec.HTTPStatus, rec.Answer, rec.Error = false, 0, "", ""
	timestamp := strconv.FormatInt(rec.At.Unix(), 10)
	nonce := strconv.FormatInt(rand.Int64N(9e9)+1e9, 10)
	body, msgSignature, err := e.crypter.SealPush(payload, timestamp, nonce)
	if err != nil {
		rec.Error = "seal: " + err.Error()
		return fmt.Errorf("%w: seal: %w", ErrPushFailed, err)
	}
	q := url.Values{
		"signature":     {msgcrypt.Sign(e.cfg.Token, timestamp, nonce)},
		"timestamp":     {timestamp},
		"nonce":         {nonce},
		"encrypt_type":  {"aes"},
		"msg_signature": {msgSignature},
	}
	target := e.cfg.PushURL
	if strings.Contains(target, "?") {
		target += "&" + q.Encode()
	} else {
		target += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		rec.Error = err.Error()
		return fmt.Errorf("%w: %w", ErrPushFailed, err)
	}
	req.Header.Set("Content-Type", "text/xml")
	req.Header.Set("User-Agent", "Mozilla/4.0")
	resp, err := e.cfg.HTTPClient.Do(req)
	if err != nil {
		rec.Error = err.Error()
		return fmt.Errorf("%w: %w", ErrPushFailed, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	rec.HTTPStatus = resp.StatusCode
	// WeChat wants the plain text "success"; surrounding white space from a
	// framework's newline is forgiven.
	if resp.StatusCode == http.StatusOK && string(bytes.TrimSpace(answer)) == "success" {
		rec.Success = true
		return nil
	}
	rec.Answer = string(answer[:min(len(answer), 64)])
	return fmt.Errorf("%w: HTTP %d", ErrPushFailed, resp.StatusCode)
}

// field is one element of a push payload.
type field struct {
	name, value string
	number      bool // written bare, like CreateTime
}

// eventXML builds a decrypted push payload the way WeChat writes it: values
// in CDATA, numbers bare.
func eventXML(fields ...field) []byte {
	var b bytes.Buffer
	b.WriteString("<xml>")
	for _, f := range fields {
		b.WriteString("<" + f.name + ">")
		if f.number {
			b.WriteString(f.value)
		} else {
			b.WriteString("<![CDATA[")
			// A "]]>" inside a value would end the section: split it.
			b.WriteString(strings.ReplaceAll(f.value, "]]>", "]]]]><![CDATA[>"))
			b.WriteString("]]>")
		}
		b.WriteString("</" + f.name + ">")
	}
	b.WriteString("</xml>")
	return b.Bytes()
}
