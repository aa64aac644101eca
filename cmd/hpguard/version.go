package main

import (
	"fmt"
	"io"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/hpguard/hpguard/internal/engine"
	"github.com/hpguard/hpguard/policies"
)

// Set at build time with -ldflags "-X main.version=... -X main.commit=...".
var (
	version = ""
	commit  = ""
)

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print hpguard's version, commit and the embedded ruleset",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runVersion(cmd.OutOrStdout())
		},
	}
}

func buildVersion() (string, string) {
	v, c := version, commit
	if info, ok := debug.ReadBuildInfo(); ok {
		if v == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			v = info.Main.Version
		}
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && c == "" {
				c = s.Value
			}
		}
	}
	if v == "" {
		v = "devel"
	}
	if c == "" {
		c = "unknown"
	}
	return v, c
}

func runVersion(stdout io.Writer) error {
	v, c := buildVersion()
	p, err := engine.LoadPolicy(policies.Rego())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "hpguard %s\ncommit: %s\nruleset: %s %s (%d rules)\n", v, c, p.Ruleset.Name, p.Ruleset.Version, len(p.Ruleset.Rules))
	return nil
}
