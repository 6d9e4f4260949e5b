// Command wxtoken is the credential service of a WeChat third-party platform:
// the server (serve), WeChat's side for tests (emulator), both wired together
// on loopback (demo), and admin commands.
//
// Exit codes: 0 success, 1 a failure at run time, 2 a usage or configuration
// error (bad flag, missing required setting).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// command is one subcommand of the binary.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *environment, args []string) error
}

// environment is what a subcommand may touch of the process, injected so that
// tests run subcommands in-process.
type environment struct {
	stdout, stderr io.Writer
	getenv         func(string) string
}

func commands() []command {
	return []command{
		{"serve", "run the credential service (event URL, authorization pages, token API, proxy)", runServe},
		{"emulator", "run an emulator of WeChat's side of the third-party platform", runEmulator},
		{"demo", "run the emulator and the service together on loopback and print the URL to open", runDemo},
		{"authorizers", "admin commands on authorizers (sync from WeChat's authorizer list)", runAuthorizers},
		{"version", "print the version", runVersion},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], &environment{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv})
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, env *environment) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(env.stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, env, args[1:])
		return exitCode(env, c.name, err)
	}
	fmt.Fprintf(env.stderr, "wxtoken: unknown command %q\n\n", args[0])
	usage(env.stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: wxtoken <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Every flag also reads WXTOKEN_<FLAG> from the environment (upper case, - becomes _);")
	fmt.Fprintln(w, "a flag on the command line wins. Run 'wxtoken <command> --help' for its flags.")
}

// usageError is a mistake in how the command was called: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// errHelp is returned when --help was asked for and printed.
var errHelp = errors.New("help requested")

func exitCode(env *environment, name string, err error) int {
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, errHelp):
		return exitOK
	case errors.Is(err, context.Canceled):
		return exitOK // a signal asked us to stop, and we did
	case errors.As(err, &ue):
		fmt.Fprintf(env.stderr, "wxtoken %s: %v\n", name, err)
		return exitUsage
	default:
		fmt.Fprintf(env.stderr, "wxtoken %s: %v\n", name, err)
		return exitFailure
	}
}

func runVersion(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet("version", "print the version", env)
	if err := fs.parse(args); err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "wxtoken %s\n", version)
	return nil
}
