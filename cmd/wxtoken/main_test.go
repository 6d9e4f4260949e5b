package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func runCapture(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, &environment{
		stdout: &out, stderr: &errOut,
		getenv: func(k string) string { return env[k] },
	})
	return code, out.String(), errOut.String()
}

func TestExitCodes(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		wantCode int
		wantOut  string // in stdout or stderr
	}{
		{"no command", nil, nil, exitUsage, "Usage: wxtoken <command>"},
		{"help", []string{"--help"}, nil, exitOK, "Commands:"},
		{"unknown command", []string{"frobnicate"}, nil, exitUsage, `unknown command "frobnicate"`},
		{"version", []string{"version"}, nil, exitOK, "wxtoken dev"},
		{"serve help", []string{"serve", "--help"}, nil, exitOK, "-refresh-margin duration"},
		{"emulator help", []string{"emulator", "--help"}, nil, exitOK, "ticket-interval"},
		{"demo help", []string{"demo", "--help"}, nil, exitOK, "-authorizers int"},
		{"authorizers help", []string{"authorizers", "--help"}, nil, exitOK, "sync"},
		{"authorizers sync help", []string{"authorizers", "sync", "--help"}, nil, exitOK, "-skip-info"},
		{"bad flag", []string{"serve", "--no-such-flag"}, nil, exitUsage, "no-such-flag"},
		{"stray argument", []string{"version", "extra"}, nil, exitUsage, `unexpected argument "extra"`},
		{"serve without credentials", []string{"serve"}, nil, exitUsage, "--component-appid (WXTOKEN_COMPONENT_APPID)"},
		{"serve without master key", []string{"serve"}, map[string]string{
			"WXTOKEN_COMPONENT_APPID": "wx1234567890abcdef", "WXTOKEN_COMPONENT_SECRET": "s",
			"WXTOKEN_TOKEN": "t", "WXTOKEN_AES_KEY": strings.Repeat("a", 43),
		}, exitUsage, "--master-key"},
		{"bad env value", []string{"serve"}, map[string]string{"WXTOKEN_REFRESH_MARGIN": "soon"}, exitUsage, "WXTOKEN_REFRESH_MARGIN"},
		{"bad store URL", []string{"serve", "--store", "mysql://x"}, map[string]string{
			"WXTOKEN_COMPONENT_APPID": "wx1234567890abcdef", "WXTOKEN_COMPONENT_SECRET": "s",
			"WXTOKEN_TOKEN": "t", "WXTOKEN_AES_KEY": strings.Repeat("a", 43),
			"WXTOKEN_MASTER_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", "WXTOKEN_LISTEN": "127.0.0.1:0",
		}, exitUsage, "unsupported URL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCapture(t, tc.env, tc.args...)
			if code != tc.wantCode {
				t.Errorf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, tc.wantCode, out, errOut)
			}
			if !strings.Contains(out+errOut, tc.wantOut) {
				t.Errorf("output does not mention %q\nstdout: %s\nstderr: %s", tc.wantOut, out, errOut)
			}
		})
	}
}

// TestFlagPrecedence checks that the command line wins over the environment,
// which wins over the config file, which wins over the default.
func TestFlagPrecedence(t *testing.T) {
	config := filepath.Join(t.TempDir(), "wxtoken.json")
	if err := os.WriteFile(config, []byte(`{"refresh-margin": "7m", "listen": "127.0.0.1:9001", "concurrency": 3, "api-keys": ["k1", "k2"]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		wantMargin time.Duration
		wantListen string
		wantConc   int
		wantKeys   string
	}{
		{"defaults", nil, nil, 10 * time.Minute, "127.0.0.1:8080", 8, ""},
		{"config file", []string{"--config", config}, nil, 7 * time.Minute, "127.0.0.1:9001", 3, "k1,k2"},
		{"environment over config", []string{"--config", config}, map[string]string{"WXTOKEN_REFRESH_MARGIN": "5m"}, 5 * time.Minute, "127.0.0.1:9001", 3, "k1,k2"},
		{"config path from environment", nil, map[string]string{"WXTOKEN_CONFIG": config}, 7 * time.Minute, "127.0.0.1:9001", 3, "k1,k2"},
		{"command line over all", []string{"--config", config, "--refresh-margin", "3m", "--listen", ":1"}, map[string]string{"WXTOKEN_REFRESH_MARGIN": "5m"}, 3 * time.Minute, ":1", 3, "k1,k2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := &environment{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, getenv: func(k string) string { return tc.env[k] }}
			fs := newFlagSet("serve", "test", env)
			fs.withConfig()
			var cfg serveConfig
			cfg.register(fs)
			if err := fs.parse(tc.args); err != nil {
				t.Fatal(err)
			}
			if cfg.refreshMargin != tc.wantMargin || cfg.listen != tc.wantListen || cfg.concurrency != tc.wantConc || cfg.apiKeys != tc.wantKeys {
				t.Errorf("got margin %s listen %q concurrency %d keys %q; want %s %q %d %q",
					cfg.refreshMargin, cfg.listen, cfg.concurrency, cfg.apiKeys, tc.wantMargin, tc.wantListen, tc.wantConc, tc.wantKeys)
			}
		})
	}
}

// FuzzConfigFile feeds arbitrary bytes as the --config file: parsing must
// fail with a usage error or succeed, never panic.
func FuzzConfigFile(f *testing.F) {
	for _, seed := range []string{
		`{"refresh-margin": "7m", "listen": "127.0.0.1:9001", "concurrency": 3, "api-keys": ["k1", "k2"]}`,
		`{"api_key_scopes": [{"name": "a", "key": "0123456789abcdef", "scopes": ["read:authorizer:wx*"]}]}`,
		`{"concurrency": "x"}`, `[]`, `{"listen": {"a": 1}}`, ``, `{"event-max-age": -1}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "c.json")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		env := &environment{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, getenv: func(string) string { return "" }}
		fs := newFlagSet("serve", "fuzz", env)
		fs.withConfig()
		var cfg serveConfig
		cfg.register(fs)
		err := fs.parse([]string{"--config", path})
		if err == nil {
			_, err = fs.configValue("api_key_scopes", &cfg.apiKeyScopes)
		}
		if err != nil {
			var ue *usageError
			if !errors.As(err, &ue) {
				t.Fatalf("config error is not a usage error: %v", err)
			}
		}
	})
}
