package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/wxtoken/wxtoken/engine"
	"github.com/wxtoken/wxtoken/wechat"
)

func runAuthorizers(ctx context.Context, env *environment, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(env.stdout, "Usage: wxtoken authorizers <subcommand> [flags]")
		fmt.Fprintln(env.stdout)
		fmt.Fprintln(env.stdout, "Subcommands:")
		fmt.Fprintln(env.stdout, "  sync   import every authorization from WeChat's authorizer list (api_get_authorizer_list),")
		fmt.Fprintln(env.stdout, "         recover refresh tokens the store lost, and fetch account info")
		if len(args) == 0 {
			return usageErrorf("a subcommand is required")
		}
		return errHelp
	}
	switch args[0] {
	case "sync":
		return runAuthorizersSync(ctx, env, args[1:])
	}
	return usageErrorf("unknown subcommand %q of authorizers", args[0])
}

func runAuthorizersSync(ctx context.Context, env *environment, args []string) error {
	fs := newFlagSet("authorizers sync", "Import every authorization from api_get_authorizer_list (500 a page) into the store, recover refresh tokens it lost or never had, and fetch account info. Prints a JSON summary.", env)
	fs.withConfig()
	var cfg serveConfig
	cfg.register(fs)
	noInfo := fs.Bool("skip-info", false, "do not fetch account info (api_get_authorizer_info) for each account")
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := required("component-appid", cfg.componentAppID, "component-secret", cfg.componentSecret); err != nil {
		return err
	}
	if cfg.masterKey == "" {
		return usageErrorf("missing required setting --master-key (%s)", envName("master-key"))
	}
	logger, err := newLogger(env, cfg.logFormat, cfg.logLevel)
	if err != nil {
		return err
	}
	store, err := openStore(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer store.Close()
	wx, err := wechat.New(wechat.Config{BaseURL: cfg.wechatBaseURL, ComponentAppID: cfg.componentAppID, ComponentSecret: cfg.componentSecret, Logger: logger})
	if err != nil {
		return usageErrorf("%v", err)
	}
	clock, err := newClock(cfg.timeScale, cfg.clockOrigin)
	if err != nil {
		return err
	}
	eng, err := engine.New(engine.Config{ComponentAppID: cfg.componentAppID, Store: store, WeChat: wx, Clock: clock, Logger: logger, Concurrency: cfg.concurrency})
	if err != nil {
		return err
	}
	res, err := eng.Sync(ctx, !*noInfo)
	out, _ := json.MarshalIndent(res, "", "  ")
	fmt.Fprintln(env.stdout, string(out))
	if err != nil {
		return fmt.Errorf("sync stopped early: %w", err)
	}
	return nil
}
