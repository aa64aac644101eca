package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hpguard/hpguard/internal/diff"
	"github.com/hpguard/hpguard/internal/report"
	"github.com/hpguard/hpguard/internal/testutil"
)

const newRuleID = "hostprocess-images-from-our-registry"

// specRevisions writes two revisions of the spec under dir: a copy of policies/spec (old), and the
// same with a rule added (new-rule, deny in hostprocess, its images exempt by default), a
// severity raised (resource-limits-set from warn to deny in hostprocess) and an exemption
// parameter's default changed (hostprocess-disallowed exempts kube-system).
func specRevisions(t *testing.T, dir string) (oldDir, newDir string) {
	t.Helper()
	oldDir, newDir = filepath.Join(dir, "old"), filepath.Join(dir, "new")
	src := os.DirFS(filepath.Join("..", "..", "policies", "spec"))
	require.NoError(t, os.CopyFS(oldDir, src))
	require.NoError(t, os.CopyFS(newDir, src))
	_, errOut, code := run(t, "", "new", "rule", newRuleID, "--spec", newDir)
	require.Equal(t, 0, code, errOut)
	rule := filepath.Join(newDir, "rules", newRuleID+".yaml")
	edit(t, rule, "name: exemptImages", "    default: []\n", "    default: [\"registry.k8s.io/*\"]\n")
	edit(t, rule, "id: ", "title: No HostProcess containers (Pod Security baseline)", "title: HostProcess images come from registry.k8s.io")
	edit(t, rule, "forbidden: ", "HostProcess containers are not allowed by this profile (Pod Security baseline); remove it, or exempt the namespace, service account or image",
		"HostProcess containers must run images from registry.k8s.io; use one, or exempt the namespace, service account or image")
	edit(t, filepath.Join(newDir, "ruleset.yaml"), "- name: hostprocess", "      resource-limits-set: warn\n",
		"      resource-limits-set: deny\n      "+newRuleID+": deny\n")
	edit(t, filepath.Join(newDir, "rules", "hostprocess-disallowed.yaml"), "name: exemptNamespaces", "    default: []\n", "    default: [kube-system]\n")
	return oldDir, newDir
}

// edit replaces the first old after marker in file by new.
func edit(t *testing.T, file, marker, old, new string) {
	t.Helper()
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	s := string(b)
	i := strings.Index(s, marker)
	require.GreaterOrEqual(t, i, 0, "%s holds %q", file, marker)
	require.Contains(t, s[i:], old)
	require.NoError(t, os.WriteFile(file, []byte(s[:i]+strings.Replace(s[i:], old, new, 1)), 0o644))
}

func runDiffJSON(t *testing.T, wantCode int, args ...string) diff.Diff {
	t.Helper()
	out, errOut, code := run(t, "", append([]string{"diff", "-o", "json"}, args...)...)
	require.Equal(t, wantCode, code, errOut)
	var d diff.Diff
	require.NoError(t, json.Unmarshal([]byte(out), &d), out)
	return d
}

// workloadsWith returns the documents (file#document) of a check report with an open finding of
// rule at severity.
func workloadsWith(t *testing.T, spec, profile, rule, severity string, paths ...string) []string {
	t.Helper()
	out, errOut, code := run(t, "", append([]string{"check", "-o", "json", "--fail-on", "warn", "--spec", spec, "--profile", profile}, paths...)...)
	require.Contains(t, []int{0, 1}, code, errOut)
	var rep report.Report
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	var docs []string
	for _, r := range rep.Results {
		for _, f := range r.Findings {
			if f.Rule == rule && f.Severity == severity && f.Status == "" {
				docs = append(docs, fmt.Sprintf("%s#%d", r.File, r.Document))
				break
			}
		}
	}
	sort.Strings(docs)
	return docs
}

func changed(d diff.Diff, rule, change string) []string {
	var docs []string
	for _, v := range d.Verdicts {
		if v.Rule == rule && v.Change == change {
			docs = append(docs, fmt.Sprintf("%s#%d", v.File, v.Document))
		}
	}
	sort.Strings(docs)
	return docs
}

// TestDiffSpecRevisions diffs two revisions of the spec made here over the golden cases and the
// examples, and checks every verdict change against what `hpguard check` reports under each.
func TestDiffSpecRevisions(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: runs without -short (make test)")
	}
	oldDir, newDir := specRevisions(t, t.TempDir())
	inputs := []string{"--ignore", "cases.json", "../../tests/golden", "../../examples"}

	d := runDiffJSON(t, 1, append([]string{oldDir, newDir}, inputs...)...)
	require.Equal(t, "hostprocess", d.Profile)
	require.Len(t, d.Rules.Added, 1)
	require.Equal(t, newRuleID, d.Rules.Added[0].ID)
	require.Equal(t, map[string]string{"hostprocess": "deny"}, d.Rules.Added[0].Profiles)
	require.Empty(t, d.Rules.Removed)
	require.Equal(t, []diff.SeverityChange{{Profile: "hostprocess", Rule: "resource-limits-set", Old: "warn", New: "deny"}}, d.Rules.Severities)
	var defaults []string
	for _, p := range d.Rules.Parameters {
		defaults = append(defaults, fmt.Sprintf("%s.%s %s %s %v -> %v", p.Rule, p.Parameter, p.Change, p.Profile, p.Old, p.New))
	}
	require.Equal(t, []string{
		"hostprocess-disallowed.exemptNamespaces default baseline [] -> [kube-system]",
		"hostprocess-disallowed.exemptNamespaces default strict [] -> [kube-system]",
	}, defaults)
	require.Empty(t, d.Rules.Golden, "no golden value of a rule in both revisions changes")
	modules := map[string]string{}
	for _, m := range d.Rules.Rego {
		modules[m.Module] = m.Change
	}
	require.Equal(t, "added", modules["rules/hostprocess_images_from_our_registry.rego"])
	require.Equal(t, "changed", modules["rules/hostprocess_disallowed.rego"], "the default is compiled into the rule")

	// Every verdict change is one that check reports under one revision and not the other.
	wantDenied := workloadsWith(t, oldDir, "hostprocess", "resource-limits-set", "warn", inputs...)
	require.NotEmpty(t, wantDenied)
	require.Equal(t, wantDenied, changed(d, "resource-limits-set", diff.NewlyDenied))
	wantNew := workloadsWith(t, newDir, "hostprocess", newRuleID, "deny", inputs...)
	require.NotEmpty(t, wantNew)
	require.Equal(t, wantNew, changed(d, newRuleID, diff.NewlyDenied))
	require.Equal(t, len(wantDenied)+len(wantNew), d.Summary.NewlyDenied)
	require.Equal(t, len(d.Verdicts), d.Summary.NewlyDenied, "nothing else changes under hostprocess")
	require.Zero(t, d.Summary.Errors)
	require.Greater(t, d.Summary.Workloads, 100)

	// Under baseline, the exemption allows HostProcess in kube-system: newly allowed there only.
	b := runDiffJSON(t, 1, append([]string{"--profile", "baseline", oldDir, newDir}, inputs...)...)
	oldDenied := workloadsWith(t, oldDir, "baseline", "hostprocess-disallowed", "deny", inputs...)
	newDenied := workloadsWith(t, newDir, "baseline", "hostprocess-disallowed", "deny", inputs...)
	var wantAllowed []string
	for _, w := range oldDenied {
		if !contains(newDenied, w) {
			wantAllowed = append(wantAllowed, w)
		}
	}
	require.NotEmpty(t, wantAllowed)
	require.Equal(t, wantAllowed, changed(b, "hostprocess-disallowed", diff.NewlyAllowed))
	for _, v := range b.Verdicts {
		require.Equal(t, "kube-system", v.Namespace, "%s#%d", v.File, v.Document)
	}
	require.Equal(t, len(wantAllowed), len(b.Verdicts))

	// A revision against itself changes nothing: exit 0.
	same := runDiffJSON(t, 0, append([]string{oldDir, oldDir}, inputs...)...)
	require.Empty(t, same.Verdicts)
	r := same.Rules
	require.Zero(t, len(r.Added)+len(r.Removed)+len(r.Severities)+len(r.Parameters)+len(r.Golden)+len(r.Rego), "%+v", r)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestDiffSources: the same two revisions as git revisions, as bundles (signed and verified) and
// as spec directories give the same diff; formats text and markdown say the same; a tampered
// bundle and an unreadable input exit 2.
func TestDiffSources(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: runs without -short (make test)")
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	dir := t.TempDir()
	oldDir, newDir := specRevisions(t, dir)
	examples, err := filepath.Abs("../../examples")
	require.NoError(t, err)
	want := runDiffJSON(t, 1, oldDir, newDir, examples)
	require.NotEmpty(t, want.Verdicts)

	// Git: a repository whose policies/spec holds old, then new.
	repo := filepath.Join(dir, "repo")
	spec := filepath.Join(repo, "policies", "spec")
	require.NoError(t, os.CopyFS(spec, os.DirFS(oldDir)))
	gitRun := func(args ...string) {
		cmd := exec.Command("git", append([]string{"-C", repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"}, args...)...)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, string(out))
	}
	gitRun("init", "-q")
	gitRun("add", ".")
	gitRun("commit", "-q", "-m", "old")
	require.NoError(t, os.RemoveAll(spec))
	require.NoError(t, os.CopyFS(spec, os.DirFS(newDir)))
	gitRun("add", "-A")
	gitRun("commit", "-q", "-m", "new")
	t.Chdir(filepath.Join(repo, "policies"))
	for _, revs := range [][2]string{{"HEAD~1", "HEAD"}, {"HEAD~1:policies/spec", "spec"}} {
		got := runDiffJSON(t, 1, revs[0], revs[1], examples)
		require.Equal(t, want.Rules, got.Rules, "%v", revs)
		require.Equal(t, want.Verdicts, got.Verdicts, "%v", revs)
	}
	_, errOut, code := run(t, "", "diff", "no-such-revision", "HEAD")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "not a git revision")

	// Bundles, signed and verified.
	priv, pub := writeECKeys(t, dir)
	oldB, newB := filepath.Join(dir, "old.tar.gz"), filepath.Join(dir, "new.tar.gz")
	for spec, out := range map[string]string{oldDir: oldB, newDir: newB} {
		_, errOut, code := run(t, "", "bundle", "build", "--spec", spec, "-o", out, "--signing-key", priv, "--signing-alg", "ES256")
		require.Equal(t, 0, code, errOut)
	}
	got := runDiffJSON(t, 1, "--verification-key", pub, oldB, newB, examples)
	require.Equal(t, want.Rules, got.Rules)
	require.Equal(t, want.Verdicts, got.Verdicts)
	data, err := os.ReadFile(newB)
	require.NoError(t, err)
	tampered := filepath.Join(dir, "tampered.tar.gz")
	require.NoError(t, os.WriteFile(tampered, repackChanged(t, data), 0o644))
	_, errOut, code = run(t, "", "diff", "--verification-key", pub, oldB, tampered)
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "verification failed")

	// Text and Markdown name every change.
	text, _, code := run(t, "", "diff", oldDir, newDir, examples)
	require.Equal(t, 1, code)
	md, _, code := run(t, "", "diff", "-o", "markdown", oldDir, newDir, examples)
	require.Equal(t, 1, code)
	for _, v := range want.Verdicts {
		require.Contains(t, text, fmt.Sprintf("%s: %s (%s -> %s)", v.Change, v.Rule, v.Old.Verdict, v.New.Verdict))
		require.Contains(t, md, fmt.Sprintf("| `%s` | %s (%s → %s) |", v.Rule, v.Change, v.Old.Verdict, v.New.Verdict))
	}
	require.Contains(t, text, "+ "+newRuleID)
	require.Contains(t, text, "hostprocess: resource-limits-set: warn -> deny")
	require.Contains(t, md, "| hostprocess | `resource-limits-set` | warn | deny |")

	// Without manifests: the rule changes only, exit 0 (no verdict is compared).
	_, errOut, code = run(t, "", "diff", oldDir, newDir)
	require.Equal(t, 0, code, errOut)
	// An input that cannot be read fails closed.
	out, errOut, code := run(t, "", "diff", oldDir, newDir, examples, filepath.Join(dir, "missing.yaml"))
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "1 input could not be read")
	require.Contains(t, out, "missing.yaml", "the report names the input")
}

// repackChanged weakens one rule of a bundle, keeping its signature.
func repackChanged(t *testing.T, data []byte) []byte {
	t.Helper()
	edited := false
	out := testutil.Repack(t, data, func(name string, b []byte) []byte {
		if name == "rules/resource_limits_set.rego" {
			edited = true
			return append(b, []byte("\n# weakened\n")...)
		}
		return b
	})
	require.True(t, edited, "the bundle holds rules/resource_limits_set.rego")
	return out
}

// TestREADMEDiffExample keeps the README's diff example true: it is what `hpguard diff old new
// examples/` prints for the two revisions of TestDiffSpecRevisions.
func TestREADMEDiffExample(t *testing.T) {
	readme, err := filepath.Abs("../../README.md")
	require.NoError(t, err)
	b, err := os.ReadFile(readme)
	require.NoError(t, err)
	const start, end = "<!-- diff-example:start -->\n```text\n", "```\n<!-- diff-example:end -->"
	i, j := strings.Index(string(b), start), strings.Index(string(b), end)
	require.True(t, i >= 0 && j > i, "README has the diff example block")
	block := string(b)[i+len(start) : j]

	dir := t.TempDir()
	specRevisions(t, dir)
	require.NoError(t, os.CopyFS(filepath.Join(dir, "examples"), os.DirFS("../../examples")))
	t.Chdir(dir)
	out, errOut, code := run(t, "", "diff", "old", "new", "examples/")
	require.Equal(t, 1, code, errOut)
	if *update {
		text := string(b)[:i+len(start)] + out + string(b)[j:]
		require.NoError(t, os.WriteFile(readme, []byte(text), 0o644))
		return
	}
	require.Equal(t, block, out, "README's diff example is out of date: run go test ./cmd/hpguard -run TestREADMEDiffExample -update")
}

// TestDiffConfig: diff evaluates the manifests with the configuration file check would use (its
// profile, parameters and ignore patterns; flags win), found from the working directory up to the
// repository root as check finds it, or named with --config.
func TestDiffConfig(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: runs without -short (make test)")
	}
	dir := t.TempDir()
	oldDir, newDir := specRevisions(t, dir)
	repo := filepath.Join(dir, "repo")
	manifests := filepath.Join(repo, "manifests")
	require.NoError(t, os.MkdirAll(filepath.Join(repo, ".git"), 0o755))
	require.NoError(t, os.CopyFS(manifests, os.DirFS(filepath.Join("..", "..", "examples"))))
	kubeProxy, err := os.ReadFile(filepath.Join(manifests, "kube-proxy.yaml"))
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Join(manifests, "vendor"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(manifests, "vendor", "kube-proxy.yaml"), kubeProxy, 0o644))
	write := func(name, content string) string {
		f := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(f, []byte(content), 0o644))
		return f
	}
	// The repository's configuration: baseline, kube-system exempt from hostprocess-disallowed
	// (the new revision's default, set here for both), vendor/ left out.
	require.NoError(t, os.WriteFile(filepath.Join(repo, configFileName), []byte(
		"profile: baseline\nparameters:\n  hostprocess-disallowed:\n    exemptNamespaces: [kube-system]\nignore:\n  - vendor/**\n"), 0o644))
	params := write("params.yaml", "hostprocess-disallowed:\n  exemptNamespaces: [kube-system]\n")
	empty := write("empty.yaml", "")
	noParams := write("no-params.yaml", "profile: baseline\nignore:\n  - vendor/**\n")
	t.Chdir(manifests)

	// Found from the working directory: kube-system is exempt under both revisions, so nothing
	// changes; the same as the flags that say the same.
	found := runDiffJSON(t, 0, oldDir, newDir, ".")
	require.Equal(t, "baseline", found.Profile)
	require.Empty(t, found.Verdicts)
	flags := runDiffJSON(t, 0, "--config", empty, "--profile", "baseline", "--params", params, "--ignore", "vendor/**", oldDir, newDir, ".")
	require.Equal(t, found.Verdicts, flags.Verdicts)

	// Without the parameters, the kube-system workloads are newly allowed, except the one under
	// vendor/, which is ignored.
	named := runDiffJSON(t, 1, "--config", noParams, oldDir, newDir, ".")
	require.Equal(t, "baseline", named.Profile)
	flags = runDiffJSON(t, 1, "--config", empty, "--profile", "baseline", "--ignore", "vendor/**", oldDir, newDir, ".")
	require.Equal(t, flags.Verdicts, named.Verdicts)
	require.NotEmpty(t, named.Verdicts)
	for _, v := range named.Verdicts {
		require.Equal(t, "hostprocess-disallowed", v.Rule)
		require.NotContains(t, v.File, "vendor")
	}
	// No configuration: the vendored copy counts.
	all := runDiffJSON(t, 1, "--config", empty, "--profile", "baseline", oldDir, newDir, ".")
	require.Greater(t, len(all.Verdicts), len(named.Verdicts))

	// A flag wins over its key.
	over := runDiffJSON(t, 1, "--config", noParams, "--profile", "hostprocess", oldDir, newDir, ".")
	require.Equal(t, "hostprocess", over.Profile)
	flags = runDiffJSON(t, 1, "--config", empty, "--profile", "hostprocess", "--ignore", "vendor/**", oldDir, newDir, ".")
	require.Equal(t, flags.Verdicts, over.Verdicts)
	require.NotEqual(t, named.Verdicts, over.Verdicts)

	// An invalid configuration is a usage error.
	_, errOut, code := run(t, "", "diff", "--config", write("bad.yaml", "profiles: baseline\n"), oldDir, newDir, ".")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "profiles")
}
