package tests

import (
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hpguard/hpguard/internal/report"
)

// copyFixture copies tests/fixtures/repo to a temporary directory (outside this repository, so
// no .hpguard.yaml of ours is found) and returns it.
func copyFixture(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	src := filepath.Join("fixtures", "repo")
	require.NoError(t, filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o600)
	}))
	return dst
}

// runIn runs the binary in dir and returns stdout, stderr and the exit status.
func runIn(t *testing.T, dir string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(hpguardBin(t), args...)
	cmd.Dir = dir
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return stdout.String(), stderr.String(), code
}

// annotate adds annotations to the fixture's DaemonSet: workload to its metadata, template to its
// pod template's.
func annotate(t *testing.T, dir, workload, template string) {
	t.Helper()
	p := filepath.Join(dir, "manifests", "windows-exporter.yaml")
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	s := strings.Replace(string(b), "  namespace: monitoring\nspec:\n  selector:",
		"  namespace: monitoring\n  annotations:\n    "+workload+"\nspec:\n  selector:", 1)
	s = strings.Replace(s, "      labels: {app: windows-exporter}\n", "      labels: {app: windows-exporter}\n      annotations:\n        "+template+"\n", 1)
	require.NoError(t, os.WriteFile(p, []byte(s), 0o600))
}

func fixtureReport(t *testing.T, out string) report.Report {
	t.Helper()
	var rep report.Report
	require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
	return rep
}

// TestFixtureRepository: `hpguard check .` in a small repository that mixes a CI workflow, a
// package.json, a pre-commit configuration, docs and manifests skips what is not Kubernetes,
// exits 1 on the seeded findings, 0 once they are suppressed with reasons, and 1 again with
// --no-suppressions; a suppression without a reason is itself a finding.
func TestFixtureRepository(t *testing.T) {
	dir := copyFixture(t)
	out, errOut, code := runIn(t, dir, "check", "-o", "json", "-q", ".")
	require.Equal(t, 1, code, errOut)
	rep := fixtureReport(t, out)
	require.Equal(t, report.Summary{Files: 5, Documents: 6, Checked: 1, Skipped: 5, Deny: 1, Warn: 1}, rep.Summary)
	skipped := map[string]string{}
	var rules []string
	for _, r := range rep.Results {
		if r.Status == report.StatusSkipped {
			skipped[filepath.ToSlash(r.File)] = r.Reason
		}
		for _, f := range r.Findings {
			rules = append(rules, f.Rule+" "+f.Severity)
		}
	}
	const notK8s = "not a Kubernetes object: neither apiVersion nor kind"
	require.Equal(t, map[string]string{".github/workflows/ci.yml": notK8s, ".pre-commit-config.yaml": notK8s, "docs/mkdocs.yml": notK8s,
		"package.json": notK8s, "manifests/windows-exporter.yaml": "Service is not a workload"}, skipped)
	require.Equal(t, []string{"host-network-required deny", "least-privilege-account warn"}, rules)

	out, _, code = runIn(t, dir, "check", "-v", "--color", "never", ".")
	require.Equal(t, 1, code)
	require.Contains(t, out, ".github/workflows/ci.yml:1 (document 0)\n  skipped (not a Kubernetes object: neither apiVersion nor kind)\n")

	annotate(t, dir, `hpguard.io/ignore-host-network-required: "the exporter serves metrics on the pod network; reviewed in SEC-142"`,
		`hpguard.io/ignore-least-privilege-account: "reads performance counters that need SYSTEM"`)
	for _, args := range [][]string{{"check", "."}, {"check", "--fail-on", "warn", "."}} {
		out, errOut, code := runIn(t, dir, append(args, "-o", "json", "-q")...)
		require.Equal(t, 0, code, "suppressed with reasons: %s %s", out, errOut)
		rep := fixtureReport(t, out)
		require.Equal(t, report.Summary{Files: 5, Documents: 6, Checked: 1, Skipped: 5, Suppressed: 2}, rep.Summary)
		for _, r := range rep.Results {
			for _, f := range r.Findings {
				require.Equal(t, report.FindingSuppressed, f.Status)
				require.NotEmpty(t, f.Suppression.Reason)
			}
		}
	}
	out, _, code = runIn(t, dir, "check", "--color", "never", ".")
	require.Equal(t, 0, code)
	require.Contains(t, out, "  SUPPRESSED deny host-network-required  spec.template.spec.hostNetwork (line 18)\n")
	require.Contains(t, out, "      reason: the exporter serves metrics on the pod network; reviewed in SEC-142 (annotation hpguard.io/ignore-host-network-required)\n")
	require.True(t, strings.HasSuffix(out, "; 0 deny, 0 warn, 2 suppressed\n"), out)

	out, _, code = runIn(t, dir, "check", "--no-suppressions", "-o", "json", "-q", ".")
	require.Equal(t, 1, code, "--no-suppressions brings the findings back")
	require.Equal(t, report.Summary{Files: 5, Documents: 6, Checked: 1, Skipped: 5, Deny: 1, Warn: 1}, fixtureReport(t, out).Summary)

	t.Run("an empty reason is a finding", func(t *testing.T) {
		dir := copyFixture(t)
		annotate(t, dir, `hpguard.io/ignore-host-network-required: ""`, `hpguard.io/ignore-least-privilege-account: "needs SYSTEM"`)
		out, _, code := runIn(t, dir, "check", "-o", "json", "-q", ".")
		require.Equal(t, 1, code)
		var got []string
		for _, r := range fixtureReport(t, out).Results {
			for _, f := range r.Findings {
				got = append(got, f.Rule+" "+f.Severity+" "+f.Status+" "+f.Field)
			}
		}
		require.Equal(t, []string{
			"host-network-required deny  spec.template.spec.hostNetwork",
			"least-privilege-account warn suppressed spec.template.spec.securityContext.windowsOptions.runAsUserName",
			`suppression-reason-required deny  metadata.annotations["hpguard.io/ignore-host-network-required"]`,
		}, got)
	})
}
