package main

import (
	"fmt"
	"io"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/hpguard/hpguard"
	"github.com/hpguard/hpguard/internal/bundle"
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
	data, err := hpguard.Bundle()
	if err != nil {
		return err
	}
	info, err := bundle.Inspect(data, nil)
	if err != nil {
		return err
	}
	p, err := bundle.Load(data, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "hpguard %s\ncommit: %s\nruleset: %s %s (%d rules)\nbundle: revision %s, sha256 %s\n",
		v, c, p.Ruleset.Name, p.Ruleset.Version, len(p.Ruleset.Rules), info.Revision, info.SHA256)
	return nil
}
