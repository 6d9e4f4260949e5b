package wechat

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
)

func FuzzParseEvent(f *testing.F) {
	for _, tc := range eventCases {
		f.Add([]byte(tc.xml))
	}
	f.Fuzz(func(t *testing.T, plaintext []byte) {
		e, err := ParseEvent(plaintext)
		if err != nil {
			if e != nil {
				t.Fatal("an event and an error")
			}
			if code := wxtoken.ErrorCode(err); code != wxtoken.EInvalid && code != wxtoken.ETooLarge {
				t.Fatalf("error code %q: %v", code, err)
			}
			return
		}
		if !wxtoken.ValidAppID(e.AppID) || e.InfoType == "" || e.CreateTime.IsZero() {
			t.Fatalf("parsed without the common fields: %v", e)
		}
		switch e.InfoType {
		case InfoTypeVerifyTicket:
			if e.ComponentVerifyTicket == "" {
				t.Fatal("ticket push without ticket")
			}
		case InfoTypeAuthorized, InfoTypeUpdateAuthorized:
			if !wxtoken.ValidAppID(e.AuthorizerAppID) || e.AuthorizationCode == "" {
				t.Fatalf("authorization push without authorizer or code: %v", e)
			}
		case InfoTypeUnauthorized:
			if !wxtoken.ValidAppID(e.AuthorizerAppID) {
				t.Fatalf("unauthorized push without authorizer: %v", e)
			}
		case InfoTypeFastRegister:
			if e.FastRegister == nil || (e.FastRegister.Status == 0 && e.FastRegister.AuthCode == "") {
				t.Fatalf("fast registration push without result: %v", e)
			}
		}
	})
}

func FuzzErrCodeOf(f *testing.F) {
	for _, tc := range errCodeCases {
		f.Add([]byte(tc.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		code, ok := ErrCodeOf(body)
		if !ok && code != 0 {
			t.Fatalf("not ok but errcode %d", code)
		}
		if ok && !isObject(body) {
			t.Fatalf("ok for a body that is not an object: %q", body)
		}
		// Where the body is valid JSON with at most one errcode, the answer
		// must agree with a full decode, both ways.
		if !json.Valid(body) || bytes.Count(body, []byte("errcode")) > 1 || bytes.Contains(body, []byte(`\u`)) {
			return
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(body, &m); err != nil || m == nil {
			if ok {
				t.Fatalf("ok for valid JSON that is not an object: %q", body)
			}
			return
		}
		want, wantOK := int64(0), true
		if raw, present := m["errcode"]; present {
			v, err := parseFlexInt(raw)
			want, wantOK = v, err == nil && v >= -1<<31 && v < 1<<31
		}
		if ok != wantOK || (ok && int64(code) != want) {
			t.Fatalf("ErrCodeOf = %d, %v; full decode %d, %v: %q", code, ok, want, wantOK, body)
		}
	})
}

// answerSeeds are every canned answer of the table tests.
func answerSeeds(f *testing.F) {
	for _, tc := range callCases {
		f.Add([]byte(tc.answer))
	}
	for _, tc := range errorCases {
		if len(tc.answer) < 4096 {
			f.Add([]byte(tc.answer))
		}
	}
}

// fuzzAnswer runs an answer through the client's checks and decode; decode
// runs only for answers that checkAnswer accepts, as in the client.
func fuzzAnswer(t *testing.T, endpoint string, body []byte, decode func([]byte) error) {
	err := checkAnswer(endpoint, 200, body, newScrubber(testSecret))
	if err == nil {
		err = decode(body)
	}
	if err == nil {
		return
	}
	var we *wxtoken.Error
	if !errors.As(err, &we) || (we.Code != wxtoken.EWeChat && we.Code != wxtoken.EUnavailable) {
		t.Fatalf("untyped error %T %v", err, err)
	}
	if we.Code == wxtoken.EWeChat && we.ErrCode == 0 {
		t.Fatalf("WeChat error without errcode: %v", err)
	}
	if we.Code == wxtoken.EUnavailable && !errors.Is(err, ErrBadAnswer) {
		t.Fatalf("EUnavailable from a 200 answer is not ErrBadAnswer: %v", err)
	}
}

func checkLifetime(t *testing.T, d time.Duration) {
	if d <= 0 || d > MaxLifetime || d%time.Second != 0 {
		t.Fatalf("lifetime %v", d)
	}
}

func FuzzDecodeComponentToken(f *testing.F) {
	answerSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzAnswer(t, "api_component_token", body, func(b []byte) error {
			tok, err := decodeComponentToken(b)
			if err == nil {
				if tok.Value == "" {
					t.Fatal("empty token")
				}
				checkLifetime(t, tok.ExpiresIn)
			}
			return err
		})
	})
}

func FuzzDecodePreAuthCode(f *testing.F) {
	answerSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzAnswer(t, "api_create_preauthcode", body, func(b []byte) error {
			code, err := decodePreAuthCode(b)
			if err == nil {
				if code.Value == "" {
					t.Fatal("empty code")
				}
				checkLifetime(t, code.ExpiresIn)
			}
			return err
		})
	})
}

func checkFuncInfo(t *testing.T, ids []int) {
	if !slices.IsSorted(ids) || len(slices.Compact(slices.Clone(ids))) != len(ids) {
		t.Fatalf("func_info not sorted and unique: %v", ids)
	}
	for _, id := range ids {
		if id <= 0 {
			t.Fatalf("func_info id %d", id)
		}
	}
}

func FuzzDecodeAuthorization(f *testing.F) {
	answerSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzAnswer(t, "api_query_auth", body, func(b []byte) error {
			a, err := decodeAuthorization(b)
			if err == nil {
				if a.AuthorizerAppID == "" {
					t.Fatal("authorization without appid")
				}
				if a.AccessToken != "" {
					checkLifetime(t, a.ExpiresIn)
				} else if a.ExpiresIn != 0 {
					t.Fatal("a lifetime without a token")
				}
				checkFuncInfo(t, a.FuncInfo)
			}
			return err
		})
	})
}

func FuzzDecodeAuthorizerToken(f *testing.F) {
	answerSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzAnswer(t, "api_authorizer_token", body, func(b []byte) error {
			tok, err := decodeAuthorizerToken(b)
			if err == nil {
				if tok.AccessToken == "" {
					t.Fatal("empty token")
				}
				checkLifetime(t, tok.ExpiresIn)
			}
			return err
		})
	})
}

func FuzzDecodeAuthorizerInfo(f *testing.F) {
	answerSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzAnswer(t, "api_get_authorizer_info", body, func(b []byte) error {
			_, auth, err := decodeAuthorizerInfo(b)
			if err == nil {
				if auth.AccessToken != "" || auth.ExpiresIn != 0 {
					t.Fatal("authorizer info with an access token")
				}
				checkFuncInfo(t, auth.FuncInfo)
			}
			return err
		})
	})
}

func FuzzDecodeAuthorizerList(f *testing.F) {
	answerSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzAnswer(t, "api_get_authorizer_list", body, func(b []byte) error {
			list, _, err := decodeAuthorizerList(b)
			if err == nil {
				if list.TotalCount < 0 {
					t.Fatal("negative total")
				}
				for _, it := range list.Items {
					if it.AppID == "" {
						t.Fatal("listed authorizer without appid")
					}
					if !it.AuthTime.IsZero() && it.AuthTime.Unix() <= 0 {
						t.Fatalf("auth time %v", it.AuthTime)
					}
				}
			}
			return err
		})
	})
}

func FuzzDecodeAuthorizerOption(f *testing.F) {
	answerSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzAnswer(t, "api_get_authorizer_option", body, func(b []byte) error {
			_, err := decodeAuthorizerOption(b)
			return err
		})
	})
}

// FuzzCheckAnswer covers statuses other than 200: the class of error must
// follow from the status alone where the contract says so.
func FuzzCheckAnswer(f *testing.F) {
	for _, tc := range errorCases {
		if len(tc.answer) < 4096 {
			f.Add(tc.status, []byte(tc.answer))
		}
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		err := checkAnswer("api_component_token", status, body, newScrubber(testSecret))
		code := wxtoken.ErrorCode(err)
		switch {
		case status >= 500 || status == 429:
			if code != wxtoken.EUnavailable || !IsRetryable(err) {
				t.Fatalf("status %d: %v", status, err)
			}
		case status < 200 || status > 299:
			if code != wxtoken.EUnavailable && code != wxtoken.EWeChat {
				t.Fatalf("status %d: %v", status, err)
			}
		case err != nil && code != wxtoken.EUnavailable && code != wxtoken.EWeChat:
			t.Fatalf("status %d: %v", status, err)
		}
	})
}
