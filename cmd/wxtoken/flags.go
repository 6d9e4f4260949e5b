package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
)

// flagSet is a flag.FlagSet whose every flag also reads WXTOKEN_<FLAG> from
// the environment and, when the set has a --config flag, a JSON config file.
// Precedence: command line, then environment, then config file, then default.
type flagSet struct {
	*flag.FlagSet
	env    *environment
	config *string
	// raw holds the config file's entries, for settings that are not flags
	// (structured values such as API keys with scopes).
	raw map[string]json.RawMessage
}

func newFlagSet(name, summary string, env *environment) *flagSet {
	fs := &flagSet{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError), env: env}
	fs.SetOutput(env.stderr)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: wxtoken %s [flags]\n\n%s\n\nFlags (each also read from WXTOKEN_<FLAG>):\n", name, summary)
		fs.PrintDefaults()
	}
	return fs
}

// withConfig adds --config, a JSON file of {"flag-name": value, …}.
func (fs *flagSet) withConfig() {
	fs.config = fs.String("config", "", "JSON file with settings keyed by flag name (command line and environment win)")
}

// envName is the environment variable that feeds a flag.
func envName(flagName string) string {
	return "WXTOKEN_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func (fs *flagSet) parse(args []string) error {
	fs.SetOutput(fs.env.stdout)
	for _, a := range args {
		if a == "-h" || a == "-help" || a == "--help" {
			fs.Usage()
			return errHelp
		}
	}
	fs.SetOutput(fs.env.stderr)
	if err := fs.Parse(args); err != nil {
		return usageErrorf("%v", err)
	}
	if fs.NArg() > 0 {
		return usageErrorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || set[f.Name] {
			return
		}
		if v, ok := lookupEnv(fs.env, envName(f.Name)); ok {
			if e := f.Value.Set(v); e != nil {
				err = usageErrorf("%s: invalid value for --%s: %v", envName(f.Name), f.Name, e)
			}
			set[f.Name] = true
		}
	})
	if err != nil {
		return err
	}
	if fs.config != nil && *fs.config != "" {
		if err := fs.loadConfig(*fs.config, set); err != nil {
			return err
		}
	}
	return nil
}

func lookupEnv(env *environment, name string) (string, bool) {
	v := env.getenv(name)
	return v, v != ""
}

func (fs *flagSet) loadConfig(path string, set map[string]bool) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return usageErrorf("config file: %v", err)
	}
	if err := json.Unmarshal(data, &fs.raw); err != nil {
		return usageErrorf("config file %s: not a JSON object: %v", path, err)
	}
	keys := make([]string, 0, len(fs.raw))
	for k := range fs.raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		f := fs.Lookup(k)
		if f == nil || set[k] || k == "config" {
			continue // structured settings are read by the command itself
		}
		v, err := scalarString(fs.raw[k])
		if err != nil {
			return usageErrorf("config file %s: %q: %v", path, k, err)
		}
		if err := f.Value.Set(v); err != nil {
			return usageErrorf("config file %s: invalid value for %q: %v", path, k, err)
		}
	}
	return nil
}

// scalarString turns a JSON string, number or boolean into the text a flag
// parses.
func scalarString(raw json.RawMessage) (string, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", err
	}
	switch x := v.(type) {
	case string:
		return x, nil
	case float64, bool:
		return strings.TrimSpace(string(raw)), nil
	case []any:
		parts := make([]string, 0, len(x))
		for _, p := range x {
			s, ok := p.(string)
			if !ok {
				return "", errors.New("list items must be strings")
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, ","), nil
	}
	return "", errors.New("want a string, number, boolean or list of strings")
}

// configValue decodes a structured config entry into v; it reports whether
// the entry was present.
func (fs *flagSet) configValue(key string, v any) (bool, error) {
	raw, ok := fs.raw[key]
	if !ok {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return true, usageErrorf("config file: %q: %v", key, err)
	}
	return true, nil
}

// required fails with a usage error naming every missing setting.
func required(pairs ...string) error {
	var missing []string
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] == "" {
			missing = append(missing, "--"+pairs[i]+" ("+envName(pairs[i])+")")
		}
	}
	if len(missing) > 0 {
		return usageErrorf("missing required settings: %s", strings.Join(missing, ", "))
	}
	return nil
}
