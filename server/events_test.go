package server_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/msgcrypt"
	"github.com/wxtoken/wxtoken/server"
)

// snapshot is everything a push could change in the store.
func (h *harness) snapshot() string {
	h.t.Helper()
	var b strings.Builder
	t, err := h.store.Store.GetTicket(h.ctx, h.appID)
	b.WriteString("ticket:" + t.Value + "|" + t.CreatedAt.String() + "|" + wxtoken.ErrorCode(err) + "\n")
	as, err := h.store.Store.ListAuthorizers(h.ctx, wxtoken.AuthorizerFilter{ComponentAppID: h.appID, Limit: 1000})
	if err != nil {
		h.t.Fatal(err)
	}
	for _, a := range as {
		j, _ := json.Marshal(a)
		b.Write(j)
		b.WriteString(a.RefreshToken + a.AccessToken.Value + "\n")
	}
	evs, err := h.store.Store.ListEvents(h.ctx, wxtoken.EventFilter{ComponentAppID: h.appID, Limit: 1000})
	if err != nil {
		h.t.Fatal(err)
	}
	for _, e := range evs {
		b.WriteString(e.Kind + "|" + e.AuthorizerAppID + "|" + e.Detail + "\n")
	}
	return b.String()
}

func TestEventIntake(t *testing.T) {
	const previousKey = "PreviousKey0123456789abcdefghijklmnopqrstuv"
	h := newHarness(t, harnessOptions{previousKey: previousKey, noEngineRun: true})
	ecfg := h.emu.Config()
	now := h.clock.Now()

	foreignCrypter, err := msgcrypt.NewCrypter(ecfg.Token, "wx00000000000000ff", ecfg.EncodingAESKey)
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := msgcrypt.NewCrypter(ecfg.Token, h.appID, "OtherKey0123456789abcdefghijklmnopqrstuvwxy")
	if err != nil {
		t.Fatal(err)
	}
	previous, err := msgcrypt.NewCrypter(ecfg.Token, h.appID, previousKey)
	if err != nil {
		t.Fatal(err)
	}
	otherToken, err := msgcrypt.NewCrypter("another-token", h.appID, ecfg.EncodingAESKey)
	if err != nil {
		t.Fatal(err)
	}

	good := func(ticket string, c *msgcrypt.Crypter) (string, []byte) {
		return sealPush(t, c, ticketPayload(h.appID, ticket, now), now, "n0nce")
	}
	valid := func() (string, []byte) { return good("ticket@@@fresh-ticket-value", h.crypter) }
	q, body := valid()
	sig := func(query string) string {
		for p := range strings.SplitSeq(query, "&") {
			if v, ok := strings.CutPrefix(p, "msg_signature="); ok {
				return v
			}
		}
		return ""
	}
	without := func(query, param string) string {
		var kept []string
		for p := range strings.SplitSeq(query, "&") {
			if !strings.HasPrefix(p, param+"=") {
				kept = append(kept, p)
			}
		}
		return strings.Join(kept, "&")
	}

	type push struct {
		method string
		query  string
		body   []byte
	}
	cases := []struct {
		name     string
		push     func() push
		status   int
		reason   string
		stored   bool // the push changes the store
		contains string
	}{
		{"missing msg_signature", func() push { return push{"POST", without(q, "msg_signature"), body} }, 400, "missing msg_signature", false, ""},
		{"missing timestamp", func() push { return push{"POST", without(q, "timestamp"), body} }, 400, "missing timestamp", false, ""},
		{"missing nonce", func() push { return push{"POST", without(q, "nonce"), body} }, 400, "missing nonce", false, ""},
		{"malformed query", func() push { return push{"POST", q + "&%zz", body} }, 400, "malformed query", false, ""},
		{"timestamp not a number", func() push {
			return push{"POST", strings.Replace(q, "timestamp=", "timestamp=x", 1), body}
		}, 400, "not a unix time", false, ""},
		{"encrypt_type raw", func() push {
			return push{"POST", strings.Replace(q, "encrypt_type=aes", "encrypt_type=raw", 1), body}
		}, 400, "encrypt_type", false, ""},
		{"wrong signature", func() push {
			return push{"POST", strings.Replace(q, sig(q), strings.Repeat("0", 40), 1), body}
		}, 403, "signature mismatch", false, ""},
		{"signed with another token", func() push { qq, b := good("ticket@@@x", otherToken); return push{"POST", qq, b} }, 403, "signature mismatch", false, ""},
		{"sealed for another appid", func() push { qq, b := good("ticket@@@x", foreignCrypter); return push{"POST", qq, b} }, 403, "another AppId", false, ""},
		{"payload of another appid", func() push {
			qq, b := sealPush(t, h.crypter, ticketPayload("wx00000000000000ff", "ticket@@@x", now), now, "n")
			return push{"POST", qq, b}
		}, 403, "another AppId", false, ""},
		{"unknown key", func() push { qq, b := good("ticket@@@x", otherKey); return push{"POST", qq, b} }, 400, "does not decrypt", false, ""},
		{"broken XML envelope", func() push { return push{"POST", q, body[:len(body)-5]} }, 400, "malformed XML", false, ""},
		{"broken base64, validly signed", func() push {
			ts := strconv.FormatInt(now.Unix(), 10)
			const broken = "!!not-base64=="
			b := []byte("<xml><AppId><![CDATA[" + h.appID + "]]></AppId><Encrypt><![CDATA[" + broken + "]]></Encrypt></xml>")
			qq := url.Values{"timestamp": {ts}, "nonce": {"n"}, "msg_signature": {msgcrypt.Sign(ecfg.Token, ts, "n", broken)}}
			return push{"POST", qq.Encode(), b}
		}, 400, "not base64", false, ""},
		{"tampered Encrypt", func() push {
			b := bytes.Replace(body, []byte("<Encrypt><![CDATA["), []byte("<Encrypt><![CDATA[AAAA"), 1)
			return push{"POST", q, b}
		}, 403, "signature mismatch", false, ""},
		{"payload not XML", func() push {
			qq, b := sealPush(t, h.crypter, "{\"not\":\"xml\"}", now, "n")
			return push{"POST", qq, b}
		}, 400, "malformed payload", false, ""},
		{"payload without ticket", func() push {
			qq, b := sealPush(t, h.crypter, strings.Replace(ticketPayload(h.appID, "", now), "<ComponentVerifyTicket><![CDATA[]]></ComponentVerifyTicket>", "", 1), now, "n")
			return push{"POST", qq, b}
		}, 400, "missing ComponentVerifyTicket", false, ""},
		{"oversized body", func() push { return push{"POST", q, bytes.Repeat([]byte("x"), 65<<10)} }, 413, "too large", false, ""},
		{"stale timestamp", func() push {
			qq, b := sealPush(t, h.crypter, ticketPayload(h.appID, "ticket@@@x", now), now.Add(-11*time.Minute), "n")
			return push{"POST", qq, b}
		}, 400, "too old", false, ""},
		{"timestamp in the future", func() push {
			qq, b := sealPush(t, h.crypter, ticketPayload(h.appID, "ticket@@@x", now), now.Add(11*time.Minute), "n")
			return push{"POST", qq, b}
		}, 400, "too old or in the future", false, ""},
		{"GET", func() push { return push{"GET", q, nil} }, 405, "not allowed", false, ""},
		{"PUT", func() push { return push{"PUT", q, body} }, 405, "not allowed", false, ""},
		{"valid ticket", func() push { return push{"POST", q, body} }, 200, "", true, "success"},
		{"the same ticket again", func() push { return push{"POST", q, body} }, 200, "", false, "success"},
		{"ticket sealed with the previous key", func() push {
			qq, b := good("ticket@@@previous-key-ticket", previous)
			return push{"POST", qq, b}
		}, 200, "", true, "success"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.push()
			before := h.snapshot()
			req := httptest.NewRequest(p.method, "/wechat/component/events?"+p.query, bytes.NewReader(p.body))
			rec := httptest.NewRecorder()
			h.srv.Handler().ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %q", rec.Code, tc.status, rec.Body.String())
			}
			if tc.status == 200 {
				if rec.Body.String() != "success" {
					t.Fatalf("answer %q, want exactly success", rec.Body.String())
				}
			} else {
				if !strings.Contains(rec.Body.String(), tc.reason) {
					t.Errorf("answer %q does not say %q", rec.Body.String(), tc.reason)
				}
				if strings.Contains(rec.Body.String(), "success") {
					t.Errorf("a refused push answered %q", rec.Body.String())
				}
				if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
					t.Errorf("Content-Type %q, want plain text", ct)
				}
			}
			after := h.snapshot()
			if changed := before != after; changed != tc.stored {
				t.Errorf("store changed: %v, want %v\nbefore: %s\nafter: %s", changed, tc.stored, before, after)
			}
		})
	}
	if t.Failed() {
		return
	}
	got, err := h.store.Store.GetTicket(h.ctx, h.appID)
	if err != nil || got.Value != "ticket@@@previous-key-ticket" {
		t.Errorf("stored ticket %q (%v)", got.Value, err)
	}
	if strings.Contains(h.logs.String(), "fresh-ticket-value") {
		t.Errorf("a ticket reached the logs")
	}
}

func TestEventIntakeMaxAgeDisabled(t *testing.T) {
	h := newHarness(t, harnessOptions{noEngineRun: true, configure: func(c *server.Config) { c.EventMaxAge = 0 }})
	old := h.clock.Now().Add(-48 * time.Hour)
	q, body := sealPush(t, h.crypter, ticketPayload(h.appID, "ticket@@@old-but-accepted", old), old, "n")
	rec := h.do(http.MethodPost, "/wechat/component/events?"+q, "", bytes.NewReader(body))
	if rec.Code != 200 || rec.Body.String() != "success" {
		t.Fatalf("with EventMaxAge 0 an old push is accepted; got %d %q", rec.Code, rec.Body.String())
	}
}

// FuzzEventHandler feeds the event URL arbitrary query strings and bodies.
// It must never panic, and it may answer "success" only to a push that
// really is signed, sealed for this platform and fresh.
func FuzzEventHandler(f *testing.F) {
	h := newHarness(f, harnessOptions{noEngineRun: true})
	now := h.clock.Now()
	q, body := sealPush(f, h.crypter, ticketPayload(h.appID, "ticket@@@fuzz-seed", now), now, "nonce")
	f.Add(q, body)
	f.Add(q, body[:len(body)/2])
	f.Add("msg_signature=&timestamp=&nonce=", []byte("<xml></xml>"))
	f.Add("timestamp=1&nonce=1&msg_signature=1", []byte("<xml><Encrypt><![CDATA[AAAA]]></Encrypt></xml>"))
	f.Add("%zz", []byte{})
	f.Add(q, bytes.Repeat([]byte("<xml>"), 1000))
	f.Fuzz(func(t *testing.T, query string, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/wechat/component/events", bytes.NewReader(body))
		req.URL.RawQuery = query
		rec := httptest.NewRecorder()
		h.srv.Handler().ServeHTTP(rec, req)
		if rec.Code == 200 || strings.Contains(rec.Body.String(), "success") {
			vals, err := parseQueryStrict(query)
			if err != nil {
				t.Fatalf("success for a malformed query %q", query)
			}
			if _, _, _, err := h.crypter.OpenPush(vals["msg_signature"], vals["timestamp"], vals["nonce"], body); err != nil {
				t.Fatalf("success for a push that does not open: %v", err)
			}
		}
		if rec.Code >= 500 && rec.Code != 503 {
			t.Fatalf("status %d for outside input", rec.Code)
		}
	})
}

func parseQueryStrict(q string) (map[string]string, error) {
	vals, err := url.ParseQuery(q)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for k := range vals {
		out[k] = vals.Get(k)
	}
	return out, nil
}
