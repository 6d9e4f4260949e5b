package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wxtoken/wxtoken/internal/syncbuf"
)

const chromiumPath = "/usr/bin/chromium"

// TestBrowserAuthorization walks the authorization flow of `wxtoken demo` as
// a merchant clicks it in a real browser: the platform's authorization page,
// WeChat's (the emulator's) account list, and the callback page; then reads
// the authorized account's token through the API.
func TestBrowserAuthorization(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		// CI installs chromium in its services step, so a missing browser
		// there is a broken setup, not a reason to pass quietly.
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing in CI: %v", chromiumPath, err)
		}
		t.Skip("install chromium (apt-get install -y chromium) to run the browser test")
	}

	base, apiKey := startDemo(t)
	shots := newScreenshotter(t)

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox, // the machine runs tests as root, where the sandbox refuses to start
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1024, 768),
	)
	t.Cleanup(cancelAlloc)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelBrowser)
	// A bound on the whole walk, so that a page that never comes fails the
	// test with a message instead of hanging until go test's timeout.
	ctx, cancel := context.WithTimeout(browserCtx, 30*time.Second)
	t.Cleanup(cancel)

	// Page 1: the platform's authorization page. The buttons are found by
	// their labels, as a person finds them, with XPath. CSS selectors go
	// through chromedp.CSS: a plain string is a DOM search that also matches
	// text, and ".ok" or "h1" match the page's <style> text as well.
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(base+"/authorize"))
	if err != nil {
		t.Fatalf("open %s/authorize: %v", base, err)
	}
	if resp.Status != http.StatusOK {
		t.Fatalf("%s/authorize answered %d", base, resp.Status)
	}
	const authorizeButton = `//button[contains(normalize-space(.), "Authorize on this computer")]`
	if err := chromedp.Do(ctx, chromedp.WaitVisible(authorizeButton)); err != nil {
		t.Fatalf("the authorization page has no visible %q button: %v", "Authorize on this computer", err)
	}
	shots.take(ctx, "1-authorize")

	// Page 2: WeChat's authorization page, on the emulator's origin.
	resp, err = chromedp.RunResponse(ctx, chromedp.Click(authorizeButton, chromedp.NodeVisible))
	if err != nil {
		t.Fatalf("click %q: %v", "Authorize on this computer", err)
	}
	if resp.Status != http.StatusOK {
		t.Fatalf("after the click the browser landed on %s with status %d", resp.URL, resp.Status)
	}
	emuPage := mustParseURL(t, resp.URL)
	if emuPage.Host == mustParseURL(t, base).Host {
		t.Fatalf("the click stayed on the service (%s); want WeChat's page on the emulator", resp.URL)
	}
	const firstAccountButton = `(//div[@class="acct"])[1]//button[normalize-space(.)="授权"]`
	if err := chromedp.Do(ctx, chromedp.WaitVisible(firstAccountButton)); err != nil {
		body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`body`)))
		t.Fatalf("WeChat's page lists no account with a 授权 button: %v\npage: %s", err, body)
	}
	attr, err := chromedp.Run(ctx, chromedp.AttributeValue(firstAccountButton, "value"))
	if err != nil || !attr.Exists || !strings.HasPrefix(attr.Value, "wx") {
		t.Fatalf("the first account's button carries no appid (%+v, %v)", attr, err)
	}
	appID := attr.Value
	accountMeta, err := chromedp.Run(ctx, chromedp.Text(`(//div[@class="acct"])[1]//div[@class="meta"]`))
	if err != nil || !strings.Contains(accountMeta, appID) {
		t.Fatalf("the first account's row shows %q (%v), not its appid %s", accountMeta, err, appID)
	}
	shots.take(ctx, "2-wechat")

	// Page 3: the platform's callback page.
	resp, err = chromedp.RunResponse(ctx, chromedp.Click(firstAccountButton, chromedp.NodeVisible))
	if err != nil {
		t.Fatalf("click 授权 for %s: %v", appID, err)
	}
	callback := mustParseURL(t, resp.URL)
	if callback.Host != mustParseURL(t, base).Host || callback.Path != "/authorize/callback" {
		t.Fatalf("after 授权 the browser landed on %s; want the service's /authorize/callback", resp.URL)
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`.ok`))); err != nil {
		body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`body`)))
		t.Fatalf("the callback page (status %d) shows no success: %v\npage: %s", resp.Status, err, body)
	}
	if resp.Status != http.StatusOK {
		t.Errorf("the callback page answered %d, want 200", resp.Status)
	}
	heading, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`h1`)))
	if err != nil || heading != "Authorization complete" {
		t.Errorf("callback heading %q (%v), want %q", heading, err, "Authorization complete")
	}
	shown, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`.ok code`)))
	if err != nil || shown != appID {
		t.Errorf("callback page shows appid %q (%v), want %s", shown, err, appID)
	}
	shots.take(ctx, "3-callback")

	// The token of the account just authorized, through the API.
	req, err := http.NewRequest(http.MethodGet, base+"/v1/authorizers/"+appID+"/token", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+apiKey)
	apiResp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("token API: %v", err)
	}
	defer apiResp.Body.Close()
	raw, err := io.ReadAll(apiResp.Body)
	if err != nil {
		t.Fatalf("token API body: %v", err)
	}
	if apiResp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/authorizers/%s/token answered %d: %s", appID, apiResp.StatusCode, raw)
	}
	var tok struct {
		AppID     string    `json:"authorizer_appid"`
		Token     string    `json:"authorizer_access_token"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	if err := json.Unmarshal(raw, &tok); err != nil {
		t.Fatalf("token API answer is not the documented JSON: %v", err)
	}
	if tok.AppID != appID || tok.Token == "" || !tok.ExpiresAt.After(time.Now()) {
		t.Errorf("token API answered appid %q, a token of %d characters expiring at %s; want %s, a token, a future expiry",
			tok.AppID, len(tok.Token), tok.ExpiresAt, appID)
	}
}

var bearerKey = regexp.MustCompile(`Bearer ([A-Za-z0-9_.-]+)`)

// startDemo runs `wxtoken demo` in-process until the test ends and returns
// its base URL and the API key it printed, once /readyz answers 200.
func startDemo(t *testing.T) (base, apiKey string) {
	t.Helper()
	addr := freeAddr(t)
	base = "http://" + addr
	var stdout, stderr syncbuf.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, []string{"demo", "--listen", addr, "--authorizers", "3"},
			&environment{stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" }})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-exited:
			if code != exitOK {
				t.Errorf("wxtoken demo exited with %d\nstderr: %s", code, tail(stderr.String(), 4000))
			}
		case <-time.After(15 * time.Second):
			t.Errorf("wxtoken demo did not stop within 15s of its context ending")
		}
	})

	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case code := <-exited:
			exited <- code // for the cleanup
			t.Fatalf("wxtoken demo exited early with %d\nstdout: %s\nstderr: %s", code, stdout.String(), tail(stderr.String(), 4000))
		default:
		}
		ready := false
		if resp, err := client.Get(base + "/readyz"); err == nil {
			ready = resp.StatusCode == http.StatusOK
			resp.Body.Close()
		}
		if m := bearerKey.FindStringSubmatch(stdout.String()); ready && m != nil {
			return base, m[1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("wxtoken demo not ready within 15s\nstdout: %s\nstderr: %s", stdout.String(), tail(stderr.String(), 4000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// screenshotter saves full-page PNGs into the test's temporary directory and,
// when WXTOKEN_SCREENSHOTS names a directory, there too, for a person to look at.
type screenshotter struct {
	t    *testing.T
	dirs []string
}

func newScreenshotter(t *testing.T) *screenshotter {
	s := &screenshotter{t: t, dirs: []string{t.TempDir()}}
	if dir := os.Getenv("WXTOKEN_SCREENSHOTS"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatalf("WXTOKEN_SCREENSHOTS: %v", err)
		}
		s.dirs = append(s.dirs, dir)
	}
	return s
}

func (s *screenshotter) take(ctx context.Context, name string) {
	s.t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		s.t.Fatalf("screenshot %s: %v", name, err)
	}
	for _, dir := range s.dirs {
		path := filepath.Join(dir, name+".png")
		if err := os.WriteFile(path, png, 0o644); err != nil {
			s.t.Fatalf("screenshot %s: %v", name, err)
		}
		s.t.Logf("screenshot %s (%d bytes)", path, len(png))
	}
}

func mustParseURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("parse URL %q: %v", raw, err)
	}
	return u
}
