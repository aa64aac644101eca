package tests

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestVersionFromBuildInfo: a binary built with plain `go build` in the checkout (no -ldflags)
// reports the checkout's commit, its time and whether it had uncommitted changes, from the build
// info; -o json gives the same for machines.
func TestVersionFromBuildInfo(t *testing.T) {
	if os.Getenv("HPGUARD_BIN") != "" {
		t.Skip("HPGUARD_BIN is a binary built elsewhere")
	}
	git, err := exec.LookPath("git")
	if err != nil {
		t.Skip("no git: go build records no VCS information")
	}
	head, err := exec.Command(git, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skip("not a git checkout")
	}
	status, err := exec.Command(git, "status", "--porcelain").Output()
	require.NoError(t, err)

	// -buildvcs=true as go build's default (auto) does in a checkout; the flag wins over a
	// GOFLAGS=-buildvcs=false in the environment.
	bin := filepath.Join(t.TempDir(), "hpguard")
	build := exec.Command("go", "build", "-buildvcs=true", "-o", bin, "../cmd/hpguard")
	b, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", b)
	out, code := runHpguard(t, bin, "version", "-o", "json")
	require.Equal(t, 0, code)
	var v struct {
		Version, Commit, CommitTime, GoVersion, Platform string
		Modified                                         bool
		Ruleset                                          struct{ Rules int }
		Bundle                                           struct{ Revision, SHA256 string }
	}
	require.NoError(t, json.Unmarshal(out, &v), string(out))
	require.Equal(t, strings.TrimSpace(string(head)), v.Commit)
	require.NotEmpty(t, v.CommitTime)
	require.Equal(t, len(status) > 0, v.Modified, "modified")
	require.Equal(t, runtime.GOOS+"/"+runtime.GOARCH, v.Platform)
	require.Equal(t, runtime.Version(), v.GoVersion)
	require.Positive(t, v.Ruleset.Rules)
	require.Regexp(t, `^[0-9a-f]{64}$`, v.Bundle.SHA256)

	text, code := runHpguard(t, bin, "version")
	require.Equal(t, 0, code)
	require.Contains(t, string(text), "commit: "+v.Commit+" ("+v.CommitTime+")")
}
