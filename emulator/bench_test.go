package emulator

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
)

// benchSetup builds an emulator with a million pre-authorized accounts and
// the refresh request bodies of 100,000 of them, spread over the range.
func benchSetup(b *testing.B) (*Emulator, string, []string) {
	b.Helper()
	clock := wxtoken.NewManualClock(start)
	e, err := New(Config{Authorizers: 1_000_000, PreAuthorized: true, Seed: 1, Clock: clock})
	if err != nil {
		b.Fatal(err)
	}
	f := &fixture{t: b, e: e, clock: clock, cfg: e.Config()}
	// No push URL: take the ticket the way a test would if it had received it.
	e.tickets.minted = append(e.tickets.minted, clock.Now().UnixNano())
	m := f.componentTokenWith(e.codec.mint(kindTicket, 0, 1))
	tok := m["component_access_token"].(string)
	bodies := make([]string, 100_000)
	for i := range bodies {
		index := uint32(i * 10)
		bodies[i] = `{"component_appid":"` + f.cfg.ComponentAppID + `","authorizer_appid":"` + e.codec.appID(index) +
			`","authorizer_refresh_token":"` + e.codec.mint(kindRefreshToken, index, 0) + `"}`
	}
	return e, "/cgi-bin/component/api_authorizer_token?component_access_token=" + tok, bodies
}

// BenchmarkAuthorizerToken drives the handler directly, from as many
// goroutines as cores: the emulator's own cost per refresh.
func BenchmarkAuthorizerToken(b *testing.B) {
	e, target, bodies := benchSetup(b)
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	cpu := processCPU()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			body := bodies[int(next.Add(1))%len(bodies)]
			r := httptest.NewRequest(http.MethodPost, target, strings.NewReader(body))
			w := httptest.NewRecorder()
			e.ServeHTTP(w, r)
			if w.Code != 200 || !bytes.Contains(w.Body.Bytes(), []byte("authorizer_access_token")) {
				b.Fatalf("HTTP %d: %s", w.Code, w.Body.String())
			}
		}
	})
	reportRate(b, cpu)
}

// BenchmarkAuthorizerTokenLoopback is what a scale test sees: a real HTTP
// server on loopback and 16 keep-alive clients, sharing the 2 cores with the
// emulator.
func BenchmarkAuthorizerTokenLoopback(b *testing.B) {
	e, target, bodies := benchSetup(b)
	srv := httptest.NewServer(e)
	defer srv.Close()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var next atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	cpu := processCPU()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			body := bodies[int(next.Add(1))%len(bodies)]
			resp, err := client.Post(srv.URL+target, "application/json", strings.NewReader(body))
			if err != nil {
				b.Fatal(err)
			}
			answer, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !bytes.Contains(answer, []byte("authorizer_access_token")) {
				b.Fatalf("answer %s", answer)
			}
		}
	})
	reportRate(b, cpu)
}

// BenchmarkStartup is New with a million accounts plus the first answer for
// the last of them.
func BenchmarkStartup(b *testing.B) {
	for i := 0; i < b.N; i++ {
		e, err := New(Config{Authorizers: 1_000_000, PreAuthorized: true, Seed: int64(i)})
		if err != nil {
			b.Fatal(err)
		}
		if a, err := e.Account(e.AppID(999_999)); err != nil || !a.Authorized {
			b.Fatal("last account")
		}
	}
}

// reportRate reports calls per wall-clock second, and the process CPU time
// per call (client and server together): 2 cores divided by it is the rate
// on an otherwise idle machine.
func reportRate(b *testing.B, cpuBefore time.Duration) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
	if used := processCPU() - cpuBefore; used > 0 {
		b.ReportMetric(float64(used.Microseconds())/float64(b.N), "cpu-µs/op")
	}
}
