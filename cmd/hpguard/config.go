package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
	"github.com/spf13/pflag"
	yaml "go.yaml.in/yaml/v3"
	k8syaml "sigs.k8s.io/yaml"

	"github.com/hpguard/hpguard/internal/engine"
	"github.com/hpguard/hpguard/internal/report"
)

// configFileName is the configuration file `hpguard check` looks for from the working directory
// up to the repository root.
const configFileName = ".hpguard.yaml"

// checkConfig is .hpguard.yaml: defaults for the flags of `hpguard check`, each key named as its
// flag. A flag given on the command line wins over its key; ignore patterns add up.
type checkConfig struct {
	Profile    string                    `yaml:"profile"`
	Engine     string                    `yaml:"engine"`
	FailOn     string                    `yaml:"fail-on"`
	Output     string                    `yaml:"output"`
	Color      string                    `yaml:"color"`
	Workers    *int                      `yaml:"workers"`
	AllowEmpty *bool                     `yaml:"allow-empty"`
	Spec       string                    `yaml:"spec"`   // relative to the file's directory
	Policy     string                    `yaml:"policy"` // relative to the file's directory
	Parameters map[string]map[string]any `yaml:"parameters"`
	Ignore     []string                  `yaml:"ignore"` // relative to the file's directory
}

// findConfig looks for .hpguard.yaml in dir and its parents, stopping at the repository root (the
// first directory holding .git, a directory or a worktree's file). Outside a repository only dir
// is looked at. It returns "" when there is none.
func findConfig(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	inRepo := false
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, ".git")); err == nil {
			inRepo = true
			break
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	for d := dir; ; d = filepath.Dir(d) {
		p := filepath.Join(d, configFileName)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
		_, err := os.Stat(filepath.Join(d, ".git"))
		if !inRepo || err == nil || filepath.Dir(d) == d {
			return "", nil
		}
	}
}

// loadConfig reads and validates a configuration file: unknown keys, wrong types and invalid
// values are errors with the file and line.
func loadConfig(file string) (*checkConfig, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %s", file, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	cfg := &checkConfig{}
	if len(doc.Content) == 0 {
		return cfg, nil // an empty file: all defaults
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			msgs := make([]string, len(te.Errors))
			for i, m := range te.Errors {
				msgs[i] = file + ":" + strings.TrimPrefix(m, "line ")
			}
			return nil, fmt.Errorf("%s (keys: %s)", strings.Join(msgs, "\n"), strings.Join(configKeys(), ", "))
		}
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	root := doc.Content[0]
	at := func(key string) string {
		for i := 0; i+1 < len(root.Content); i += 2 {
			if root.Content[i].Value == key {
				return fmt.Sprintf("%s:%d: %s", file, root.Content[i+1].Line, key)
			}
		}
		return file + ": " + key
	}
	switch {
	case cfg.FailOn != "" && cfg.FailOn != report.SeverityDeny && cfg.FailOn != report.SeverityWarn:
		return nil, fmt.Errorf("%s: %q: want deny or warn", at("fail-on"), cfg.FailOn)
	case cfg.Color != "" && !slices.Contains([]string{"auto", "always", "never"}, cfg.Color):
		return nil, fmt.Errorf("%s: %q: want auto, always or never", at("color"), cfg.Color)
	case cfg.Workers != nil && *cfg.Workers < 0:
		return nil, fmt.Errorf("%s: %d: want 0 (the number of CPUs) or more", at("workers"), *cfg.Workers)
	case cfg.Spec != "" && cfg.Policy != "":
		return nil, fmt.Errorf("%s: spec and policy exclude each other", at("policy"))
	}
	if cfg.Output != "" {
		if _, err := report.Get(cfg.Output); err != nil {
			return nil, fmt.Errorf("%s: %w", at("output"), err)
		}
	}
	if cfg.Engine != "" {
		if _, err := engine.Lookup(cfg.Engine); err != nil {
			return nil, fmt.Errorf("%s: %w", at("engine"), err)
		}
	}
	for _, g := range cfg.Ignore {
		if err := validIgnore(g); err != nil {
			return nil, fmt.Errorf("%s: %w", at("ignore"), err)
		}
	}
	// Parameters get the types --params gives them (JSON numbers as float64), whatever the YAML.
	if cfg.Parameters != nil {
		b, err := json.Marshal(cfg.Parameters)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", at("parameters"), err)
		}
		ps := map[string]map[string]any{}
		if err := k8syaml.Unmarshal(b, &ps); err != nil {
			return nil, fmt.Errorf("%s: %w", at("parameters"), err)
		}
		cfg.Parameters = ps
	}
	base := filepath.Dir(file)
	for _, p := range []*string{&cfg.Spec, &cfg.Policy} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(base, *p)
		}
	}
	return cfg, nil
}

// configKeys are the keys of checkConfig.
func configKeys() []string {
	return []string{"profile", "engine", "fail-on", "output", "color", "workers", "allow-empty", "spec", "policy", "parameters", "ignore"}
}

// applyConfig sets the check parameters from the configuration where the flag was not given.
func applyConfig(flags *pflag.FlagSet, p *checkParams, cfg *checkConfig, dir string) {
	set := func(flag string, dst *string, v string) {
		if v != "" && !flags.Changed(flag) {
			*dst = v
		}
	}
	set("profile", &p.profile, cfg.Profile)
	set("engine", &p.engine, cfg.Engine)
	set("fail-on", &p.failOn, cfg.FailOn)
	set("output", &p.output, cfg.Output)
	set("color", &p.color, cfg.Color)
	if cfg.Workers != nil && !flags.Changed("workers") {
		p.workers = *cfg.Workers
	}
	if cfg.AllowEmpty != nil && !flags.Changed("allow-empty") {
		p.allowEmpty = *cfg.AllowEmpty
	}
	if !flags.Changed("spec") && !flags.Changed("policy") && !flags.Changed("bundle") {
		p.specDir, p.policyDir = cfg.Spec, cfg.Policy
	}
	p.configParams = cfg.Parameters
	for _, g := range cfg.Ignore {
		p.ignores = append(p.ignores, ignorePattern{pattern: g, base: dir})
	}
}

// ignorePattern is one --ignore pattern, or one of the configuration's, with the directory its
// paths are relative to.
type ignorePattern struct {
	pattern string
	base    string // absolute directory
}

// validIgnore checks an ignore pattern.
func validIgnore(g string) error {
	if strings.TrimSpace(g) == "" || !doublestar.ValidatePattern(strings.TrimPrefix(g, "./")) {
		return fmt.Errorf("ignore pattern %q is not a valid glob", g)
	}
	return nil
}

// ignoreMatcher returns the function check.Options.Ignore wants: a path matches a pattern when
// its path relative to the directory argument it was found in, or relative to the pattern's base
// directory (the working directory for --ignore, the configuration file's directory for its
// patterns), matches the pattern (doublestar syntax: ** matches any number of directories).
func ignoreMatcher(patterns []ignorePattern) func(arg, path string, isDir bool) string {
	if len(patterns) == 0 {
		return nil
	}
	return func(arg, path string, _ bool) string {
		absPath, err := filepath.Abs(path)
		if err != nil {
			return ""
		}
		var underArg string
		if absArg, err := filepath.Abs(arg); err == nil && absArg != absPath {
			if rel, err := filepath.Rel(absArg, absPath); err == nil && !strings.HasPrefix(rel, "..") {
				underArg = filepath.ToSlash(rel)
			}
		}
		for _, p := range patterns {
			pat := strings.TrimPrefix(filepath.ToSlash(p.pattern), "./")
			cands := []string{underArg}
			if rel, err := filepath.Rel(p.base, absPath); err == nil && rel != "." && !strings.HasPrefix(rel, "..") {
				cands = append(cands, filepath.ToSlash(rel))
			}
			for _, c := range cands {
				if c == "" {
					continue
				}
				if ok, _ := doublestar.Match(pat, c); ok {
					return p.pattern
				}
			}
		}
		return ""
	}
}

// configure reads the configuration file (--config, or .hpguard.yaml found from the working
// directory) into p where no flag was given, and adds the --ignore patterns.
func configure(flags *pflag.FlagSet, p *checkParams) error {
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	file := p.configFile
	if file == "" {
		if file, err = findConfig(wd); err != nil {
			return fmt.Errorf("config: %w", err)
		}
	}
	if file == "" {
		p.configNote = "no configuration file (" + configFileName + " not found from the working directory up to the repository root)"
	} else {
		cfg, err := loadConfig(file)
		if err != nil {
			return err
		}
		abs, err := filepath.Abs(file)
		if err != nil {
			return err
		}
		applyConfig(flags, p, cfg, filepath.Dir(abs))
		p.configNote = "configuration from " + file
	}
	for _, g := range p.ignore {
		if err := validIgnore(g); err != nil {
			return fmt.Errorf("--ignore: %w", err)
		}
		p.ignores = append(p.ignores, ignorePattern{pattern: g, base: wd})
	}
	return nil
}
