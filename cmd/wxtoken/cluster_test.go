package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/emulator"
)

// This file runs the real binary as child processes against an in-process
// emulator that shares an accelerated clock with them (same --clock-origin and
// --time-scale), for the crash and chaos tests.

var (
	binaryOnce sync.Once
	binaryPath string
	binaryErr  error
)

// wxtokenBinary builds the binary once per test run.
func wxtokenBinary(t *testing.T) string {
	t.Helper()
	binaryOnce.Do(func() {
		dir, err := os.MkdirTemp("", "wxtoken-bin-")
		if err != nil {
			binaryErr = err
			return
		}
		binaryPath = filepath.Join(dir, "wxtoken")
		out, err := exec.Command("go", "build", "-o", binaryPath, ".").CombinedOutput()
		if err != nil {
			binaryErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binaryErr != nil {
		t.Fatal(binaryErr)
	}
	return binaryPath
}

type clusterOptions struct {
	store       string
	extraArgs   []string // store options such as --postgres-schema
	authorizers int
	replicas    int
	scale       float64
	tokenTTL    time.Duration
	margin      time.Duration
	leaseTTL    time.Duration
	rotation    float64
}

type cluster struct {
	t      *testing.T
	opt    clusterOptions
	origin time.Time
	clock  *wxtoken.ScaledClock
	emu    *emulator.Emulator
	emuURL string
	creds  credentials
	dir    string
	lb     *httptest.Server

	mu       sync.Mutex
	replicas []*replica
}

type replica struct {
	index int
	url   string
	addr  string
	log   string
	cmd   *exec.Cmd
	done  chan struct{}
}

func newCluster(t *testing.T, opt clusterOptions) *cluster {
	t.Helper()
	if opt.replicas == 0 {
		opt.replicas = 1
	}
	c := &cluster{t: t, opt: opt, origin: time.Now(), dir: t.TempDir(), creds: demoCredentials()}
	c.clock = wxtoken.NewScaledClock(c.origin, opt.scale)
	c.replicas = make([]*replica, opt.replicas)

	// The event URL sits behind a "load balancer" that sends each push to a
	// live replica, as a platform's would.
	c.lb = httptest.NewServer(http.HandlerFunc(c.forwardPush))
	t.Cleanup(c.lb.Close)

	emu, err := emulator.New(emulator.Config{
		ComponentAppID:       c.creds.appID,
		ComponentSecret:      c.creds.secret,
		Token:                c.creds.token,
		EncodingAESKey:       c.creds.aesKey,
		PushURL:              c.lb.URL + "/wechat/component/events",
		Authorizers:          opt.authorizers,
		PreAuthorized:        true,
		Clock:                c.clock,
		TokenTTL:             opt.tokenTTL,
		RefreshTokenRotation: opt.rotation,
	})
	if err != nil {
		t.Fatal(err)
	}
	c.emu = emu
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	c.emuURL = srv.URL
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = emu.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	t.Cleanup(func() {
		for i := range c.replicas {
			c.kill(i)
		}
		if t.Failed() {
			for i := range c.replicas {
				c.dumpLog(i)
			}
		}
	})
	return c
}

func (c *cluster) forwardPush(w http.ResponseWriter, r *http.Request) {
	live := c.live()
	if len(live) == 0 {
		http.Error(w, "no replica up", http.StatusBadGateway)
		return
	}
	target, _ := url.Parse(live[rand.IntN(len(live))].url)
	httputil.NewSingleHostReverseProxy(target).ServeHTTP(w, r)
}

func (c *cluster) live() []*replica {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*replica
	for _, r := range c.replicas {
		if r != nil {
			select {
			case <-r.done:
			default:
				out = append(out, r)
			}
		}
	}
	return out
}

func (c *cluster) commonArgs() []string {
	return append([]string{
		"--store", c.opt.store,
		"--component-appid", c.creds.appID,
		"--component-secret", c.creds.secret,
		"--wechat-base-url", c.emuURL,
		"--master-key", c.creds.masterKey,
		"--time-scale", fmt.Sprint(c.opt.scale),
		"--clock-origin", c.origin.Format(time.RFC3339Nano),
		"--log-format", "json",
	}, c.opt.extraArgs...)
}

// sync imports the emulator's pre-authorized accounts with the real
// `wxtoken authorizers sync`.
func (c *cluster) sync() {
	c.t.Helper()
	args := append([]string{"authorizers", "sync", "--skip-info"}, c.commonArgs()...)
	out, err := exec.Command(wxtokenBinary(c.t), args...).CombinedOutput()
	if err != nil {
		c.t.Fatalf("authorizers sync: %v\n%s", err, tail(string(out), 3000))
	}
}

// start launches replica i (again) on the address it had before, if any.
func (c *cluster) start(i int) *replica {
	c.t.Helper()
	c.mu.Lock()
	prev := c.replicas[i]
	c.mu.Unlock()
	addr := ""
	if prev != nil {
		addr = prev.addr
	} else {
		addr = freeAddr(c.t)
	}
	logPath := filepath.Join(c.dir, fmt.Sprintf("replica-%d.log", i))
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		c.t.Fatal(err)
	}
	args := append([]string{"serve",
		"--listen", addr,
		"--token", c.creds.token,
		"--aes-key", c.creds.aesKey,
		"--api-keys", c.creds.apiKey,
		"--owner", fmt.Sprintf("replica-%d", i),
		"--refresh-margin", c.opt.margin.String(),
		"--lease-ttl", c.opt.leaseTTL.String(),
		"--event-max-age", "0",
	}, c.commonArgs()...)
	cmd := exec.Command(wxtokenBinary(c.t), args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	r := &replica{index: i, url: "http://" + addr, addr: addr, log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); logFile.Close(); close(r.done) }()
	c.mu.Lock()
	c.replicas[i] = r
	c.mu.Unlock()
	c.waitUp(r)
	return r
}

// waitUp waits until the replica answers /healthz (it is a process starting,
// so this is a wait on a real process, not on virtual time).
func (c *cluster) waitUp(r *replica) {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-r.done:
			c.dumpLog(r.index)
			c.t.Fatalf("replica %d exited during start", r.index)
		default:
		}
		resp, err := http.Get(r.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatalf("replica %d did not come up", r.index)
}

// waitReady waits until replica i reports ready (a ticket and a component
// token).
func (c *cluster) waitReady(i int) {
	c.t.Helper()
	r := c.replicas[i]
	deadline := time.Now().Add(60 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		resp, err := http.Get(r.url + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = string(body)
		}
		time.Sleep(20 * time.Millisecond) // a real process getting ready
	}
	c.dumpLog(i)
	c.t.Fatalf("replica %d did not become ready: /readyz said %s", i, last)
}

// kill sends SIGKILL: no shutdown, no lease release, writes cut mid-way.
func (c *cluster) kill(i int) {
	c.mu.Lock()
	r := c.replicas[i]
	c.mu.Unlock()
	if r == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGKILL)
	<-r.done
}

// stop sends SIGTERM and waits for a graceful exit.
func (c *cluster) stop(i int) {
	c.t.Helper()
	c.mu.Lock()
	r := c.replicas[i]
	c.mu.Unlock()
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(30 * time.Second):
		c.t.Errorf("replica %d ignored SIGTERM", i)
		c.kill(i)
	}
	if code := r.cmd.ProcessState.ExitCode(); code != 0 {
		c.t.Errorf("replica %d exited with %d after SIGTERM", i, code)
	}
}

func (c *cluster) dumpLog(i int) {
	r := c.replicas[i]
	if r == nil {
		return
	}
	b, _ := os.ReadFile(r.log)
	var kept []string
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.Contains(line, `"token handed out"`) {
			kept = append(kept, line)
		}
	}
	c.t.Logf("--- replica %d log (tail, without token hand-outs) ---\n%s", i, tail(strings.Join(kept, "\n"), 4000))
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// reader hammers the token API of every live replica and checks each token it
// is handed against the emulator at that moment.
type reader struct {
	c        *cluster
	appIDs   []string
	client   *http.Client
	served   atomic.Int64
	failed   atomic.Int64
	invalid  atomic.Int64
	mu       sync.Mutex
	examples []string
}

func newReader(c *cluster, appIDs []string) *reader {
	return &reader{c: c, appIDs: appIDs, client: &http.Client{Timeout: 5 * time.Second}}
}

func (rd *reader) run(ctx context.Context, workers int) *sync.WaitGroup {
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				live := rd.c.live()
				if len(live) == 0 {
					time.Sleep(10 * time.Millisecond) // every replica is down: wait for a restart
					continue
				}
				r := live[rand.IntN(len(live))]
				rd.readOne(ctx, r, rd.appIDs[rand.IntN(len(rd.appIDs))])
			}
		}()
	}
	return &wg
}

func (rd *reader) readOne(ctx context.Context, r *replica, appID string) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, r.url+"/v1/authorizers/"+appID+"/token", nil)
	req.Header.Set("Authorization", "Bearer "+rd.c.creds.apiKey)
	resp, err := rd.client.Do(req)
	if err != nil {
		rd.failed.Add(1) // a killed replica, most likely
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		rd.failed.Add(1)
		return
	}
	var tok struct {
		AppID string `json:"authorizer_appid"`
		Value string `json:"authorizer_access_token"`
	}
	if err := json.Unmarshal(body, &tok); err != nil || tok.Value == "" {
		rd.failed.Add(1)
		return
	}
	if !rd.c.emu.AuthorizerTokenValid(appID, tok.Value) {
		rd.invalid.Add(1)
		rd.mu.Lock()
		if len(rd.examples) < 5 {
			rd.examples = append(rd.examples, fmt.Sprintf("replica %d served an invalid token of %s at virtual %s", r.index, appID, rd.c.clock.Now().Format(time.RFC3339)))
		}
		rd.mu.Unlock()
		return
	}
	rd.served.Add(1)
}

func (c *cluster) appIDs() []string {
	accounts := c.emu.Accounts(0, c.opt.authorizers)
	ids := make([]string, len(accounts))
	for i, a := range accounts {
		ids[i] = a.AppID
	}
	return ids
}
