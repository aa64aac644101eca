package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/hpguard/hpguard"
	"github.com/hpguard/hpguard/internal/bundle"
)

// Set at build time with -ldflags "-X main.version=... -X main.commit=..."; without them the
// version and the commit come from the build info that go build and go install record (the module
// version when installed as module@version, the VCS revision when built in a checkout).
var (
	version = ""
	commit  = ""
)

func newVersionCmd() *cobra.Command {
	output := "text"
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print hpguard's version, commit and the embedded ruleset",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return usageError(fmt.Errorf("--output %q: want text or json", output))
			}
			return runVersion(cmd.OutOrStdout(), output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", output, "output `FORMAT`: text or json")
	return cmd
}

// versionInfo is what `hpguard version -o json` prints.
type versionInfo struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	// CommitTime is the commit's time (RFC 3339) and Modified whether the checkout had uncommitted
	// changes, from the build info ("" and false when not recorded).
	CommitTime string `json:"commitTime,omitempty"`
	Modified   bool   `json:"modified,omitempty"`
	GoVersion  string `json:"goVersion"`
	Platform   string `json:"platform"`
	Ruleset    struct {
		Name    string `json:"name"`
		Version string `json:"version"`
		Rules   int    `json:"rules"`
	} `json:"ruleset"`
	Bundle struct {
		Revision string `json:"revision"`
		SHA256   string `json:"sha256"`
	} `json:"bundle"`
}

// buildInfo reads the version, commit, commit time and modified flag of this binary.
func buildInfo() versionInfo {
	vi := versionInfo{Version: version, Commit: commit, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if info, ok := debug.ReadBuildInfo(); ok {
		if vi.Version == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			vi.Version = info.Main.Version
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				if vi.Commit == "" {
					vi.Commit = s.Value
				}
			case "vcs.time":
				vi.CommitTime = s.Value
			case "vcs.modified":
				vi.Modified = s.Value == "true"
			}
		}
	}
	if vi.Version == "" {
		vi.Version = "devel"
	}
	if vi.Commit == "" {
		vi.Commit = "unknown"
	}
	return vi
}

func buildVersion() (string, string) {
	vi := buildInfo()
	return vi.Version, vi.Commit
}

func runVersion(stdout io.Writer, output string) error {
	vi := buildInfo()
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
	vi.Ruleset.Name, vi.Ruleset.Version, vi.Ruleset.Rules = p.Ruleset.Name, p.Ruleset.Version, len(p.Ruleset.Rules)
	vi.Bundle.Revision, vi.Bundle.SHA256 = info.Revision, info.SHA256
	if output == "json" {
		return writeJSON(stdout, vi)
	}
	commitLine := vi.Commit
	if vi.CommitTime != "" {
		commitLine += " (" + vi.CommitTime + ")"
	}
	if vi.Modified {
		commitLine += ", with uncommitted changes"
	}
	if vi.Commit == "unknown" {
		commitLine += " (go run records none; go build or go install in a checkout does)"
	}
	fmt.Fprintf(stdout, "hpguard %s\ncommit: %s\nbuilt with: %s %s\nruleset: %s %s (%d rules)\nbundle: revision %s, sha256 %s\n",
		vi.Version, commitLine, vi.GoVersion, vi.Platform, vi.Ruleset.Name, vi.Ruleset.Version, vi.Ruleset.Rules, vi.Bundle.Revision, vi.Bundle.SHA256)
	return nil
}
