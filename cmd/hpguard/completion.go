package main

import (
	"slices"
	"sort"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hpguard/hpguard/internal/bundle"
	"github.com/hpguard/hpguard/internal/diff"
	"github.com/hpguard/hpguard/internal/engine"
	"github.com/hpguard/hpguard/internal/report"
	"github.com/hpguard/hpguard/internal/ruleset"
)

// Shell completion (`hpguard completion bash|zsh|fish|powershell`): flag values come from the
// embedded rule set and the registries of engines and formats, so they cannot drift from what the
// commands accept; flags that take files complete files of the right kind, flags that take
// directories complete directories.

// embeddedRuleset is the rule set of the embedded bundle (nil when it cannot be read).
func embeddedRuleset() *ruleset.Ruleset {
	p, err := bundle.Embedded()
	if err != nil {
		return nil
	}
	return p.Ruleset
}

// profileNames are the embedded rule set's profiles.
func profileNames() []string {
	var names []string
	if rs := embeddedRuleset(); rs != nil {
		for _, p := range rs.Profiles {
			names = append(names, p.Name+"\t"+p.Description)
		}
	}
	return names
}

// ruleIDs are the embedded rule set's rules, with their titles.
func ruleIDs() []string {
	var ids []string
	if rs := embeddedRuleset(); rs != nil {
		for _, id := range rs.RuleIDs() {
			ids = append(ids, id+"\t"+rs.Rules[id].Title)
		}
	}
	return ids
}

// setKeys are the `rule-id.parameter=` prefixes --set takes, with the parameters' descriptions.
func setKeys() []string {
	var keys []string
	if rs := embeddedRuleset(); rs != nil {
		for _, id := range rs.RuleIDs() {
			for _, p := range rs.Rules[id].Parameters {
				keys = append(keys, id+"."+p.Name+"=\t"+p.Description)
			}
		}
	}
	sort.Strings(keys)
	return keys
}

// fixed completes a flag with values, and nothing else.
func fixed(values func() []string) cobra.CompletionFunc {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return values(), cobra.ShellCompDirectiveNoFileComp
	}
}

// list is fixed for a literal list.
func list(values ...string) cobra.CompletionFunc {
	return fixed(func() []string { return values })
}

// registerCompletions adds completion to the flags of cmd and of every command below it.
func registerCompletions(cmd *cobra.Command) {
	for _, c := range cmd.Commands() {
		registerCompletions(c)
	}
	fs := cmd.Flags()
	complete := func(name string, f cobra.CompletionFunc) {
		if fs.Lookup(name) != nil {
			_ = cmd.RegisterFlagCompletionFunc(name, f)
		}
	}
	files := func(name string, ext ...string) {
		if fs.Lookup(name) != nil {
			_ = cmd.MarkFlagFilename(name, ext...)
		}
	}
	dirs := func(name string) {
		if fs.Lookup(name) != nil {
			_ = cmd.MarkFlagDirname(name)
		}
	}
	complete("profile", fixed(profileNames))
	complete("engine", fixed(engine.Names))
	complete("engines", fixed(engine.Names))
	complete("fail-on", list("deny", "warn"))
	complete("color", list("auto", "always", "never"))
	complete("set", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return setKeys(), cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
	})
	complete("signing-alg", list("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"))
	complete("verification-alg", list("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"))
	files("params", "yaml", "yml", "json")
	files("config", "yaml", "yml")
	files("values", "yaml", "yml")
	files("verification-key", "pem", "crt", "pub")
	files("signing-key", "pem", "key")
	files("bundle", "gz", "tgz")
	files("kubeconfig")
	files("registry-config", "json")
	files("helm-chart")
	dirs("spec")
	dirs("policy")
	dirs("out")
	dirs("kustomize")
	if o := fs.Lookup("output"); o != nil {
		switch {
		case fs.Lookup("engine") != nil: // check, audit
			complete("output", fixed(report.Names))
		case slices.Contains([]string{"rules", "verify", "inspect"}, cmd.Name()):
			complete("output", list("text", "json"))
		case cmd.Name() == "diff":
			complete("output", fixed(func() []string { return diff.Formats }))
		case cmd.Name() == "report":
			complete("output", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
				return []string{"html", "md"}, cobra.ShellCompDirectiveDefault
			})
		default: // bundle build: a file
			_ = cmd.MarkFlagFilename("output", "gz")
		}
	}
	if cmd.Name() == "rules" {
		cmd.ValidArgsFunction = func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return ruleIDs(), cobra.ShellCompDirectiveNoFileComp
		}
	}
}

// flagPlaceholders lists, for a help test, each flag of cmd and below with the placeholder its
// usage line shows.
func flagPlaceholders(cmd *cobra.Command) map[string]string {
	out := map[string]string{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			name, _ := pflag.UnquoteUsage(f)
			out[c.CommandPath()+" --"+f.Name] = name
		})
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(cmd)
	return out
}
