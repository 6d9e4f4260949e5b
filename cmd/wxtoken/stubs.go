package main

import "context"

// The subcommands below are filled by later work; until then they say so and
// exit with code 3.

func runServe(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet("serve", "run the credential service", env)
	if err := fs.parse(args); err != nil {
		return err
	}
	return errNotBuilt
}

func runEmulator(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet("emulator", "run an emulator of WeChat's side", env)
	if err := fs.parse(args); err != nil {
		return err
	}
	return errNotBuilt
}

func runDemo(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet("demo", "run the emulator and the service together", env)
	if err := fs.parse(args); err != nil {
		return err
	}
	return errNotBuilt
}

func runAuthorizers(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet("authorizers", "admin commands on authorizers", env)
	if err := fs.parse(args); err != nil {
		return err
	}
	return errNotBuilt
}
