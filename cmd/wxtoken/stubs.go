package main

import "context"

// The subcommands below are filled by later work; until then they say so and
// exit with code 3.

func runEmulator(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet("emulator", "run an emulator of WeChat's side", env)
	if err := fs.parse(args); err != nil {
		return err
	}
	return errNotBuilt
}
