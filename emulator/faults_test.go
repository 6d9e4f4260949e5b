package emulator

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestFaults(t *testing.T) {
	f := newFixture(t, Config{PreAuthorized: true})
	tok := f.componentToken()
	acct, _ := f.e.Account(f.e.AppID(1))
	refresh := func() *httptest.ResponseRecorder {
		body, _ := json.Marshal(map[string]string{"component_appid": f.cfg.ComponentAppID, "authorizer_appid": acct.AppID, "authorizer_refresh_token": acct.RefreshToken})
		return f.do(http.MethodPost, "/cgi-bin/component/api_authorizer_token?component_access_token="+tok, string(body))
	}

	t.Run("errcode for the next N calls", func(t *testing.T) {
		f.e.SetFault("api_authorizer_token", Fault{ErrCode: -1, Count: 2})
		for i := 0; i < 2; i++ {
			f.wantErr(decodeAnswer(t, refresh()), -1)
		}
		f.wantErr(decodeAnswer(t, refresh()), 0)
		if len(f.e.Faults()) != 0 {
			t.Fatal("a used-up fault stays")
		}
	})
	t.Run("HTTP status", func(t *testing.T) {
		f.e.SetFault("api_authorizer_token", Fault{HTTPStatus: 503})
		w := refresh()
		if w.Code != 503 || !strings.Contains(w.Body.String(), "503") {
			t.Fatalf("HTTP %d: %s", w.Code, w.Body.String())
		}
		f.e.SetFault("api_authorizer_token", Fault{HTTPStatus: 502, ErrCode: -1})
		if w := refresh(); w.Code != 502 || !strings.Contains(w.Body.String(), `"errcode":-1`) {
			t.Fatalf("HTTP %d: %s", w.Code, w.Body.String())
		}
		f.e.ClearFault("api_authorizer_token")
		if w := refresh(); w.Code != 200 {
			t.Fatal("cleared fault still applies")
		}
	})
	t.Run("wildcard and own fault", func(t *testing.T) {
		f.e.SetFault("*", Fault{ErrCode: 45009})
		f.e.SetFault("api_create_preauthcode", Fault{ErrCode: 40001})
		f.wantErr(decodeAnswer(t, refresh()), 45009)
		f.wantErr(f.component("api_create_preauthcode", tok, map[string]any{}), 40001)
		f.e.ClearFaults()
		f.wantErr(decodeAnswer(t, refresh()), 0)
	})
	t.Run("probability", func(t *testing.T) {
		f.e.SetFault("api_authorizer_token", Fault{ErrCode: -1, Probability: 0.5})
		failed := 0
		for i := 0; i < 400; i++ {
			if errcode(t, decodeAnswer(t, refresh())) == -1 {
				failed++
			}
		}
		f.e.ClearFaults()
		// Binomial(400, 0.5): outside [120, 280] is ~1e-18 likely.
		if failed < 120 || failed > 280 {
			t.Fatalf("%d of 400 calls failed with probability 0.5", failed)
		}
	})
	t.Run("after handling", func(t *testing.T) {
		// WeChat mints a token but the answer is lost: the client's token
		// becomes the previous one and dies 300 s later.
		m := decodeAnswer(t, refresh())
		held := m["authorizer_access_token"].(string)
		f.e.SetFault("api_authorizer_token", Fault{HTTPStatus: 504, AfterHandling: true, Count: 1})
		if w := refresh(); w.Code != 504 {
			t.Fatalf("HTTP %d", w.Code)
		}
		f.clock.Advance(300 * time.Second)
		if f.e.AuthorizerTokenValid(acct.AppID, held) {
			t.Fatal("the token held by the client should have been superseded")
		}
	})
	t.Run("counters", func(t *testing.T) {
		c := f.e.Counters()
		if c.Count("api_authorizer_token", -1) < 2 || c.Calls["api_authorizer_token"]["http_503"] != 1 || c.Calls["api_authorizer_token"]["http_504"] != 1 {
			t.Fatalf("counters %v", c.Calls["api_authorizer_token"])
		}
	})
	t.Run("invalid faults are refused", func(t *testing.T) {
		for _, bad := range []struct {
			ep string
			f  Fault
		}{
			{"api_authorizer_token", Fault{}},
			{"api_authorizer_token", Fault{HTTPStatus: 200}},
			{"api_authorizer_token", Fault{ErrCode: 1, Probability: 2}},
			{"api_authorizer_token", Fault{ErrCode: 1, Count: -1}},
			{"api_authorizer_token", Fault{Delay: time.Hour}},
			{"no_such_endpoint", Fault{ErrCode: 1}},
		} {
			if err := f.e.setFault(bad.ep, bad.f); err == nil {
				t.Errorf("fault %+v on %s accepted", bad.f, bad.ep)
			}
		}
		if len(f.e.Faults()) != 0 {
			t.Fatal("refused faults were stored")
		}
	})
}

// Drop and Delay need a real connection.
func TestFaultDropAndDelay(t *testing.T) {
	f := newFixture(t, Config{})
	srv := httptest.NewServer(f.e)
	defer srv.Close()
	post := func() (*http.Response, error) {
		body := `{"component_appid":"` + f.cfg.ComponentAppID + `","component_secret":"` + f.cfg.ComponentSecret + `"}`
		return srv.Client().Post(srv.URL+"/cgi-bin/component/api_start_push_ticket", "application/json", strings.NewReader(body))
	}
	f.e.SetFault("api_start_push_ticket", Fault{Drop: true, Count: 1})
	if resp, err := post(); err == nil {
		resp.Body.Close()
		t.Fatalf("dropped call answered HTTP %d", resp.StatusCode)
	}
	if len(f.rc.all()) != 0 {
		t.Fatal("a dropped call pushed")
	}
	// The answer is lost but the call took effect: the push still comes.
	f.e.SetFault("api_start_push_ticket", Fault{ErrCode: -1, AfterHandling: true, Count: 1})
	resp, err := post()
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(answer), `"errcode":-1`) || len(f.rc.all()) != 1 {
		t.Fatalf("after-handling fault: %s, %d pushes", answer, len(f.rc.all()))
	}
	const delay = 50 * time.Millisecond
	f.e.SetFault("api_start_push_ticket", Fault{Delay: delay, Count: 1})
	began := time.Now()
	resp, err = post()
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if took := time.Since(began); took < delay || !strings.Contains(string(body), `"errcode":0`) {
		t.Fatalf("delayed call: %s after %v", body, took)
	}
	if c := f.e.Counters().Calls["api_start_push_ticket"]; c["dropped"] != 1 || c["0"] != 1 || c["-1"] != 1 {
		t.Fatalf("counters %v", c)
	}
}

func TestFaultJSON(t *testing.T) {
	in := Fault{ErrCode: -1, HTTPStatus: 503, Delay: 1500 * time.Millisecond, Drop: true, Probability: 0.25, Count: 3, AfterHandling: true}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"delay":"1.5s"`) {
		t.Fatalf("%s", b)
	}
	var out Fault
	if err := json.Unmarshal(b, &out); err != nil || out != in {
		t.Fatalf("round trip: %+v, %v", out, err)
	}
	if err := json.Unmarshal([]byte(`{"delay":"soon"}`), &out); err == nil {
		t.Fatal("bad delay accepted")
	}
}
