package tests

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestREADMEWalkthrough runs the README's "Your own rule, end to end" steps exactly as written, in a
// copy of the repository, as a new user would.
func TestREADMEWalkthrough(t *testing.T) {
	if testing.Short() {
		t.Skip("builds hpguard from a copy of the repository")
	}
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	require.NoError(t, err)
	text := string(readme)
	start := strings.Index(text, "<!-- walkthrough:start -->")
	end := strings.Index(text, "<!-- walkthrough:end -->")
	require.True(t, start >= 0 && end > start, "README has the walkthrough markers")
	block := text[start:end]
	block = block[strings.Index(block, "```sh\n")+len("```sh\n"):]
	block = block[:strings.Index(block, "```")]
	require.Contains(t, block, "hpguard init")

	work := t.TempDir()
	repo := filepath.Join(work, "hpguard")
	copyTree(t, "..", repo)
	gobin := filepath.Join(work, "bin")
	script := "set -euo pipefail\n" + block
	cmd := exec.Command("bash", "-c", script)
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "GOBIN="+gobin, "PATH="+gobin+string(os.PathListSeparator)+os.Getenv("PATH"), "HPGUARD_BIN="+filepath.Join(work, "action-bin"), "HPGUARD_OUTPUT="+filepath.Join(work, "hpguard.sarif"))
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "walkthrough failed:\n%s", out)
	// The custom rule was enforced by the check and by the CI script, and artifacts were generated.
	require.Contains(t, string(out), "hpguard: wrote sarif report")
	sarif, err := os.ReadFile(filepath.Join(work, "hpguard.sarif"))
	require.NoError(t, err)
	require.Contains(t, string(sarif), "hostprocess-images-from-our-registry")
	for _, p := range []string{"generated/policies/rego/rules/hostprocess_images_from_our_registry.rego", "generated/docs/rules.md", "generated/tests/golden/cases.json"} {
		_, err := os.Stat(filepath.Join(repo, p))
		require.NoError(t, err, "%s generated", p)
	}
}

// copyTree copies the repository's sources (not build outputs or VCS data).
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() && (rel == ".git" || rel == ".bin" || strings.HasPrefix(rel, "tests/oracle") || rel == "tests/golden") {
			return filepath.SkipDir
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		info, _ := d.Info()
		return os.WriteFile(target, b, info.Mode().Perm())
	})
	require.NoError(t, err)
}
