package tests

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

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

// edit replaces old, which must be in the file, with new.
func edit(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Contains(t, string(b), old)
	require.NoError(t, os.WriteFile(path, []byte(strings.Replace(string(b), old, new, 1)), 0o600))
}

func fixtureReport(t *testing.T, out string) report.Report {
	t.Helper()
	var rep report.Report
	require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
	return rep
}

// TestFixtureRepository: `hpguard check .` in a small repository that mixes a CI workflow, a
// package.json, a tsconfig.json with comments, pre-commit files, docs, manifests, a Helm chart and
// a kustomization (a base and an overlay) skips what is not Kubernetes, renders the chart and
// builds the kustomizations in their place, exits 1 on the seeded findings, 0 once they are
// suppressed with reasons, and 1 again with --no-suppressions; a suppression without a reason is
// itself a finding.
func TestFixtureRepository(t *testing.T) {
	dir := copyFixture(t)
	const (
		chart   = "charts/log-agent/templates/daemonset.yaml"
		base    = "kustomize build deploy/base"
		overlay = "kustomize build deploy/overlays/prod"
		export  = "manifests/windows-exporter.yaml"
	)
	out, errOut, code := runIn(t, dir, "check", "-o", "json", "-q", ".")
	require.Equal(t, 1, code, errOut)
	rep := fixtureReport(t, out)
	require.Equal(t, report.Summary{Files: 10, Documents: 11, Checked: 4, Skipped: 7, Deny: 3, Warn: 1, Suppressed: 2}, rep.Summary)
	skipped := map[string]string{}
	var findings []string
	for _, r := range rep.Results {
		if r.Status == report.StatusSkipped {
			skipped[filepath.ToSlash(r.File)] = r.Reason
		}
		for _, f := range r.Findings {
			findings = append(findings, filepath.ToSlash(r.File)+" "+f.Rule+" "+f.Severity+" "+f.Status)
		}
	}
	const notK8s = "not a Kubernetes object: neither apiVersion nor kind"
	require.Equal(t, map[string]string{".github/workflows/ci.yml": notK8s, ".pre-commit-config.yaml": notK8s, "docs/mkdocs.yml": notK8s,
		"package.json": notK8s, "manifests/windows-exporter.yaml": "Service is not a workload",
		".pre-commit-hooks.yaml": "not a Kubernetes object: a YAML sequence, and it names neither apiVersion nor kind",
		"web/tsconfig.json":      "not a Kubernetes object: not valid YAML or JSON (line 2: did not find expected ',' or '}'), and it names neither apiVersion nor kind",
	}, skipped)
	require.Equal(t, []string{
		chart + " no-named-pipe-or-socket-mounts deny ",
		base + " least-privilege-account warn suppressed",
		overlay + " run-as-non-root-not-true deny ",
		overlay + " least-privilege-account warn suppressed",
		export + " host-network-required deny ",
		export + " least-privilege-account warn ",
	}, findings)

	out, _, code = runIn(t, dir, "check", "-v", "--color", "never", ".")
	require.Equal(t, 1, code)
	require.Contains(t, out, ".github/workflows/ci.yml:1 (document 0)\n  skipped (not a Kubernetes object: neither apiVersion nor kind)\n")
	require.Contains(t, out, "\n"+chart+":1 DaemonSet default/release-name-log-agent\n  DENY no-named-pipe-or-socket-mounts  spec.template.spec.volumes[0].hostPath.path (line 40)\n")
	require.Contains(t, out, "\n"+overlay+":1 DaemonSet kube-system/prod-csi-node-win\n  DENY run-as-non-root-not-true  spec.template.spec.securityContext.runAsNonRoot (line 29)\n")

	// What `check .` renders in place is what -k and --helm-chart render when named.
	out, errOut, code = runIn(t, dir, "check", "-o", "json", "-q", "-k", "deploy/overlays/prod",
		"--helm-chart", "charts/log-agent", "--set-value", "containerdPipe=false")
	require.Equal(t, 1, code, errOut)
	findings = nil
	for _, r := range fixtureReport(t, out).Results {
		findings = append(findings, fmt.Sprintf("%s %s %d", filepath.ToSlash(r.File), r.Status, len(r.Findings)))
	}
	require.Equal(t, []string{overlay + " checked 2", "log-agent/templates/daemonset.yaml checked 0"}, findings)

	// Each seeded finding suppressed where its team would: an annotation in the manifest, pod
	// annotations through the chart's values, an annotation added by the overlay's patch.
	annotate(t, dir, `hpguard.io/ignore-host-network-required: "the exporter serves metrics on the pod network; reviewed in SEC-142"`,
		`hpguard.io/ignore-least-privilege-account: "reads performance counters that need SYSTEM"`)
	edit(t, filepath.Join(dir, "charts", "log-agent", "values.yaml"), "podAnnotations: {}",
		`podAnnotations: {hpguard.io/ignore-no-named-pipe-or-socket-mounts: "tails containerd's log pipe; SEC-150"}`)
	edit(t, filepath.Join(dir, "deploy", "overlays", "prod", "harden.yaml"), "  name: csi-node-win\n",
		"  name: csi-node-win\n  annotations:\n    hpguard.io/ignore-run-as-non-root-not-true: \"kept until the shared patch is split; SEC-151\"\n")
	for _, args := range [][]string{{"check", "."}, {"check", "--fail-on", "warn", "."}} {
		out, errOut, code := runIn(t, dir, append(args, "-o", "json", "-q")...)
		require.Equal(t, 0, code, "suppressed with reasons: %s %s", out, errOut)
		rep := fixtureReport(t, out)
		require.Equal(t, report.Summary{Files: 10, Documents: 11, Checked: 4, Skipped: 7, Suppressed: 6}, rep.Summary)
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
	require.Contains(t, out, "      reason: tails containerd's log pipe; SEC-150 (annotation hpguard.io/ignore-no-named-pipe-or-socket-mounts)\n")
	require.True(t, strings.HasSuffix(out, "; 0 deny, 0 warn, 6 suppressed\n"), out)

	out, _, code = runIn(t, dir, "check", "--no-suppressions", "-o", "json", "-q", ".")
	require.Equal(t, 1, code, "--no-suppressions brings the findings back")
	require.Equal(t, report.Summary{Files: 10, Documents: 11, Checked: 4, Skipped: 7, Deny: 3, Warn: 3}, fixtureReport(t, out).Summary)

	t.Run("an empty reason is a finding", func(t *testing.T) {
		dir := copyFixture(t)
		annotate(t, dir, `hpguard.io/ignore-host-network-required: ""`, `hpguard.io/ignore-least-privilege-account: "needs SYSTEM"`)
		out, _, code := runIn(t, dir, "check", "-o", "json", "-q", "manifests")
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

// TestPreCommitHookOnFixtureRepository runs the hook's entry as `pre-commit run --all-files` does
// on the fixture repository: every file its `files` pattern matches, passed by name. Files that are
// not Kubernetes pass, a file of a chart or a kustomization has it rendered or built (once), and the
// run exits 1 on the seeded findings (never 2), 0 once they are fixed or suppressed.
func TestPreCommitHookOnFixtureRepository(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", ".pre-commit-hooks.yaml"))
	require.NoError(t, err)
	var hooks []struct {
		Entry string `json:"entry"`
		Files string `json:"files"`
	}
	require.NoError(t, yaml.Unmarshal(b, &hooks))
	require.Len(t, hooks, 1)
	entry := strings.Fields(hooks[0].Entry)
	require.Equal(t, "hpguard", entry[0])
	pattern := regexp.MustCompile(hooks[0].Files)

	dir := copyFixture(t)
	staged := func() []string {
		var files []string
		require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			rel, _ := filepath.Rel(dir, p)
			if err == nil && !d.IsDir() && pattern.MatchString(filepath.ToSlash(rel)) {
				files = append(files, filepath.ToSlash(rel))
			}
			return err
		}))
		return files
	}
	files := staged()
	require.Contains(t, files, "charts/log-agent/templates/daemonset.yaml")
	require.Contains(t, files, "web/tsconfig.json")
	args := append(append(entry[1:], "-o", "json", "-q"), files...)
	out, errOut, code := runIn(t, dir, args...)
	require.Equal(t, 1, code, "%s\n%s", out, errOut)
	rep := fixtureReport(t, out)
	require.Zero(t, rep.Summary.Errors)
	var denied []string
	for _, r := range rep.Results {
		for _, f := range r.Findings {
			if f.Severity == "deny" && f.Status == "" {
				denied = append(denied, filepath.ToSlash(r.File)+" "+f.Rule)
			}
		}
	}
	require.Equal(t, []string{"charts/log-agent/templates/daemonset.yaml no-named-pipe-or-socket-mounts",
		"kustomize build deploy/overlays/prod run-as-non-root-not-true",
		"manifests/windows-exporter.yaml host-network-required"}, denied)
	require.Len(t, files, 14, "files named")
	require.Equal(t, report.Summary{Files: 10, Documents: 11, Checked: 4, Skipped: 7, Deny: 3, Warn: 1, Suppressed: 2}, rep.Summary,
		"what `check .` reads: each chart rendered and each kustomization built once")

	edit(t, filepath.Join(dir, "charts", "log-agent", "values.yaml"), "containerdPipe: true", "containerdPipe: false")
	edit(t, filepath.Join(dir, "deploy", "overlays", "prod", "harden.yaml"), "        runAsNonRoot: true\n", "        runAsNonRoot: false\n")
	annotate(t, dir, `hpguard.io/ignore-host-network-required: "the exporter serves metrics on the pod network; reviewed in SEC-142"`,
		`hpguard.io/ignore-least-privilege-account: "reads performance counters that need SYSTEM"`)
	out, errOut, code = runIn(t, dir, append(append(entry[1:], "-q"), staged()...)...)
	require.Equal(t, 0, code, "%s\n%s", out, errOut)
}
