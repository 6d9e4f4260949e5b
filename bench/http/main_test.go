package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestHistogramBuckets(t *testing.T) {
	// Every value lies in its bucket, buckets are ordered, and a bucket is
	// narrower than 1/128 of its values.
	values := []uint64{0, 1, 127, 128, 255, 256, 257, 511, 512, 1000, 123456, 1 << 20, 1<<40 + 12345, math.MaxInt64}
	for _, v := range values {
		i := bucketOf(v)
		if i < 0 || i >= buckets {
			t.Fatalf("bucketOf(%d) = %d, outside [0,%d)", v, i, buckets)
		}
		hi := upperBound(i)
		lo := uint64(0)
		if i > 0 {
			lo = upperBound(i-1) + 1
		}
		if v < lo || v > hi {
			t.Errorf("value %d in bucket %d = [%d,%d]", v, i, lo, hi)
		}
		if v >= 256 && float64(hi-lo+1) > float64(lo)/128 {
			t.Errorf("bucket %d = [%d,%d] is wider than 1/128 of its values", i, lo, hi)
		}
	}
	for i := 1; i < buckets; i++ {
		if upperBound(i) <= upperBound(i-1) {
			t.Fatalf("bucket %d does not follow bucket %d", i, i-1)
		}
	}
}

func TestHistogramQuantiles(t *testing.T) {
	cases := []struct {
		name   string
		values func(record func(time.Duration))
		want   map[float64]time.Duration
	}{
		{"uniform 1..10000 µs", func(record func(time.Duration)) {
			for i := 1; i <= 10000; i++ {
				record(time.Duration(i) * time.Microsecond)
			}
		}, map[float64]time.Duration{0.5: 5000 * time.Microsecond, 0.9: 9000 * time.Microsecond, 0.99: 9900 * time.Microsecond, 1: 10 * time.Millisecond}},
		{"one outlier", func(record func(time.Duration)) {
			for range 999 {
				record(200 * time.Microsecond)
			}
			record(50 * time.Millisecond)
		}, map[float64]time.Duration{0.5: 200 * time.Microsecond, 0.99: 200 * time.Microsecond, 0.9995: 50 * time.Millisecond}},
		{"single", func(record func(time.Duration)) { record(3 * time.Millisecond) },
			map[float64]time.Duration{0.5: 3 * time.Millisecond, 0.99: 3 * time.Millisecond}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Split the values over two histograms, as workers do, and merge.
			var a, b histogram
			n := 0
			tc.values(func(d time.Duration) {
				if n%2 == 0 {
					a.record(d)
				} else {
					b.record(d)
				}
				n++
			})
			a.merge(&b)
			for q, want := range tc.want {
				got := a.quantile(q)
				if got < want || float64(got-want) > float64(want)/128 {
					t.Errorf("quantile(%v) = %v, want %v (within 0.8%% above)", q, got, want)
				}
			}
		})
	}
	var empty histogram
	if empty.quantile(0.5) != 0 {
		t.Error("an empty histogram has a median")
	}
}

func TestReadResponse(t *testing.T) {
	cases := []struct {
		name   string
		raw    string
		status int
		body   string
		keep   bool
		err    bool
	}{
		{"content length", "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\nhello", 200, "hello", true, false},
		{"chunked", "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nTrailer: x\r\n\r\n", 404, "abcde", true, false},
		{"close", "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 2\r\n\r\nno", 503, "no", false, false},
		{"HTTP/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", 200, "ok", false, false},
		{"to the end", "HTTP/1.1 200 OK\r\n\r\nuntil close", 200, "until close", false, false},
		{"no content", "HTTP/1.1 204 No Content\r\n\r\n", 204, "", true, false},
		{"garbage", "SSH-2.0-OpenSSH\r\n\r\n", 0, "", false, true},
		{"bad length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 0, "", false, true},
		{"bad chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 0, "", false, true},
		{"short body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 0, "", false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body, keep, err := readResponse(bufio.NewReader(strings.NewReader(tc.raw)))
			if (err != nil) != tc.err {
				t.Fatalf("err = %v, want error %v", err, tc.err)
			}
			if tc.err {
				return
			}
			if status != tc.status || string(body) != tc.body || keep != tc.keep {
				t.Errorf("got %d %q keep=%v, want %d %q keep=%v", status, body, keep, tc.status, tc.body, tc.keep)
			}
		})
	}
}

// tokenAPI answers the token route like the server does, counting the
// connections it accepted and the appids it was asked for.
type tokenAPI struct {
	conns   atomic.Int64
	mu      sync.Mutex
	hits    map[string]int
	missing string // an appid answered 404
}

func (a *tokenAPI) start(t *testing.T) *httptest.Server {
	a.hits = map[string]int{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/authorizers/{appid}/token", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer bench-key-0123456789" {
			http.Error(w, `{"error":{"code":"unauthorized","message":"no"}}`, http.StatusUnauthorized)
			return
		}
		id := r.PathValue("appid")
		a.mu.Lock()
		a.hits[id]++
		a.mu.Unlock()
		if id == a.missing {
			http.Error(w, `{"error":{"code":"not_found","message":"no such authorizer"}}`, http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"authorizer_appid":%q,"authorizer_access_token":"90_tok_%s","expires_at":"2030-01-01T00:00:00Z"}`+"\n", id, id)
	})
	mux.HandleFunc("GET /v1/authorizers", func(w http.ResponseWriter, r *http.Request) {
		// Two pages, the second with an account the bench must skip.
		if r.URL.Query().Get("cursor") == "" {
			fmt.Fprint(w, `{"authorizers":[{"authorizer_appid":"wx0000000000000001","state":"authorized"},{"authorizer_appid":"wx0000000000000002","state":"authorized"}],"next_cursor":"wx0000000000000002"}`)
			return
		}
		fmt.Fprint(w, `{"authorizers":[{"authorizer_appid":"wx0000000000000003","state":"revoked"},{"authorizer_appid":"wx0000000000000004","state":"authorized"}],"next_cursor":""}`)
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			a.conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

func TestLoadAgainstTokenAPI(t *testing.T) {
	api := &tokenAPI{missing: "wx0000000000000013"}
	srv := api.start(t)
	var ids []string
	for i := range 50 {
		ids = append(ids, fmt.Sprintf("wx%016d", i))
	}
	file := filepath.Join(t.TempDir(), "appids")
	os.WriteFile(file, []byte("# appids\n"+strings.Join(ids, "\n")+"\n"), 0o600)

	var out bytes.Buffer
	args := []string{"-url", srv.URL, "-key", "bench-key-0123456789", "-c", "4", "-d", "300ms", "-warmup", "50ms", "-appids", file, "-json", "-server-pid", fmt.Sprint(os.Getpid())}
	if err := run(context.Background(), args, &out, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	var res result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out.String())
	}
	if res.Requests < 50 || res.Errors != 0 || res.AppIDs != 50 || res.Connections != 4 {
		t.Fatalf("result %+v", res)
	}
	if n := api.conns.Load(); n != 4 || res.Conns != 4 {
		t.Errorf("the server saw %d connections, the bench opened %d; want 4 kept alive", n, res.Conns)
	}
	api.mu.Lock()
	hit, missingHits := len(api.hits), api.hits[api.missing]
	api.mu.Unlock()
	if hit < 40 {
		t.Errorf("only %d of 50 appids were requested", hit)
	}
	// The 404s of one appid are counted as bad answers, and nothing else is.
	if res.Bad == 0 || res.Bad > uint64(missingHits) {
		t.Errorf("%d bad answers, %d requests for the missing appid", res.Bad, missingHits)
	}
	if !(res.P50ms > 0 && res.P50ms <= res.P90ms && res.P90ms <= res.P99ms && res.P99ms <= res.MaxMs) {
		t.Errorf("latencies out of order: %+v", res)
	}
	// The server runs in this process: its CPU time includes the generator's.
	// The two are read a moment apart, at clock-tick resolution, so allow a
	// little slack.
	if res.ClientCPUus <= 0 || res.ServerCPUus < 0.9*res.ClientCPUus {
		t.Errorf("cpu per request: server %v µs, load generator %v µs", res.ServerCPUus, res.ClientCPUus)
	}
	if math.Abs(res.RPS-float64(res.Requests)/0.3) > 1 {
		t.Errorf("rate %v for %d requests in 0.3 s", res.RPS, res.Requests)
	}
}

func TestLoadListsAppIDsThroughTheAPI(t *testing.T) {
	api := &tokenAPI{}
	srv := api.start(t)
	var out bytes.Buffer
	args := []string{"-url", srv.URL, "-key", "bench-key-0123456789", "-c", "2", "-d", "100ms", "-warmup", "0s"}
	if err := run(context.Background(), args, &out, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "3 appids") || !strings.Contains(out.String(), "bad answers 0") {
		t.Errorf("output:\n%s", out.String())
	}
	api.mu.Lock()
	defer api.mu.Unlock()
	if api.hits["wx0000000000000003"] != 0 {
		t.Error("a revoked account was requested")
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-c", "0"},
		{"-d", "0s"},
		{"-url", "https://example.com", "-appids", "/dev/null"},
		{"extra"},
	} {
		var out bytes.Buffer
		if err := run(context.Background(), args, &out, &out); err == nil {
			t.Errorf("run(%v) succeeded", args)
		}
	}
}

func TestProcessCPU(t *testing.T) {
	// Burn some CPU so the clock-tick counters move.
	deadline := time.Now().Add(50 * time.Millisecond)
	for x := 0; time.Now().Before(deadline); x++ {
		_ = x * x
	}
	d, err := processCPU(os.Getpid())
	if err != nil || d <= 0 || d > selfCPU()+time.Second {
		t.Errorf("processCPU(self) = %v, %v; getrusage says %v", d, err, selfCPU())
	}
	if _, err := processCPU(1 << 30); err == nil {
		t.Error("processCPU of a process that does not exist succeeded")
	}
}
