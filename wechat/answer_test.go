package wechat

import (
	"strings"
	"testing"
)

type errCodeCase struct {
	body string
	code int
	ok   bool
}

var errCodeCases = []errCodeCase{
	{`{"errcode":40001,"errmsg":"invalid credential rid: 1-2-3"}`, 40001, true},
	{`  {"errcode" : -1 , "errmsg":"system error"}`, -1, true},
	{`{"errcode":0,"errmsg":"ok"}`, 0, true},
	{`{"errmsg":"ok","errcode":42001}`, 42001, true},
	{`{"data":{"errcode":1},"errcode":"61023"}`, 61023, true},
	{`{"errcode":"40014"}`, 40014, true},
	{`{"user_info_list":[{"openid":"o"}],"total":1}`, 0, true},
	{`{}`, 0, true},
	{`{"errcode":null}`, 0, true},
	{`{"errcode":40001}trailing`, 40001, true},
	{`{"errcode":4.5}`, 0, false},
	{`{"errcode":"x"}`, 0, false},
	{`{"errcode":99999999999}`, 0, false},
	{`{"errcode":01}`, 0, false},
	{`{"errcode":true}`, 0, false},
	{`{"a":`, 0, false},
	{`{"errcode":`, 0, false},
	{`[{"errcode":1}]`, 0, false},
	{`"errcode"`, 0, false},
	{``, 0, false},
	{"\x89PNG\r\n\x1a\n", 0, false},
	{`<xml><errcode>1</errcode></xml>`, 0, false},
}

func TestErrCodeOf(t *testing.T) {
	for _, tc := range errCodeCases {
		code, ok := ErrCodeOf([]byte(tc.body))
		if code != tc.code || ok != tc.ok {
			t.Errorf("ErrCodeOf(%q) = %d, %v; want %d, %v", tc.body, code, ok, tc.code, tc.ok)
		}
	}
}

func TestFlexInt(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{`7200`, 7200, true},
		{`"7200"`, 7200, true},
		{`" 7200 "`, 7200, true},
		{`7200.0`, 7200, true},
		{`7.2e3`, 7200, true},
		{`-1`, -1, true},
		{`null`, 0, true},
		{`""`, 0, true},
		{`"7200s"`, 0, false},
		{`7200.5`, 0, false},
		{`1e300`, 0, false},
		{`"NaN"`, 0, false},
		{`"Inf"`, 0, false},
		{`true`, 0, false},
	}
	for _, tc := range tests {
		got, err := parseFlexInt([]byte(tc.in))
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseFlexInt(%s) = %d, %v; want %d, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// BenchmarkErrCodeOf measures what the proxy pays per forwarded answer: the
// common error shape, and a large success answer without errcode.
func BenchmarkErrCodeOf(b *testing.B) {
	large := `{"total":10000,"data":{"openid":[` + strings.Repeat(`"oDF3iY9ffA-hqb2vVvbr7qxf6A0Q",`, 10000) + `"o"]},"next_openid":"o"}`
	for _, bc := range []struct{ name, body string }{
		{"error", `{"errcode":40001,"errmsg":"invalid credential, access_token is invalid or not latest rid: 6523f1a2-0b3c4d5e-6f708192"}`},
		{"success-300KiB", large},
	} {
		body := []byte(bc.body)
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				ErrCodeOf(body)
			}
		})
	}
}
