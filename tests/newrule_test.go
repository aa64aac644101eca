package tests

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/hpguard/hpguard/generator"
	"github.com/hpguard/hpguard/generator/spec"
	"github.com/hpguard/hpguard/internal/engine"
	"github.com/hpguard/hpguard/internal/report"
	"github.com/hpguard/hpguard/policies"
)

// newRules are rules of an existing check kind (field-value, at pod level and as an effective
// value), written as spec files only: tests/testdata/newrule/.
var newRules = []string{"local-service-only", "priority-class-node-critical"}

// specWithNewRules is the shipped spec plus the new rules, deny in the hostprocess and strict
// profiles.
func specWithNewRules(t *testing.T) *spec.Spec {
	t.Helper()
	fsys := fstest.MapFS{}
	require.NoError(t, fs.WalkDir(policies.Spec(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(policies.Spec(), p)
		fsys[p] = &fstest.MapFile{Data: b}
		return err
	}))
	rs := string(fsys["ruleset.yaml"].Data)
	for _, prof := range []string{"hostprocess", "strict"} {
		i := strings.Index(rs, "  - name: "+prof+"\n")
		require.GreaterOrEqual(t, i, 0, "profile %s in ruleset.yaml", prof)
		j := strings.Index(rs[i:], "    rules:\n")
		require.GreaterOrEqual(t, j, 0)
		at := i + j + len("    rules:\n")
		var add string
		for _, id := range newRules {
			add += "      " + id + ": deny\n"
		}
		rs = rs[:at] + add + rs[at:]
	}
	fsys["ruleset.yaml"] = &fstest.MapFile{Data: []byte(rs)}
	for _, id := range newRules {
		b, err := os.ReadFile(filepath.Join("testdata", "newrule", id+".yaml"))
		require.NoError(t, err)
		fsys["rules/"+id+".yaml"] = &fstest.MapFile{Data: b}
	}
	s, err := spec.Load(fsys)
	require.NoError(t, err)
	return s
}

// subFS returns the generated files under dir, rooted at dir.
func subFS(files []generator.File, dir string) fstest.MapFS {
	out := fstest.MapFS{}
	for _, f := range files {
		if rest, ok := strings.CutPrefix(f.Path, dir+"/"); ok {
			out[rest] = &fstest.MapFile{Data: f.Data, Mode: 0o644}
		}
	}
	return out
}

// TestNewRuleFromSpecAlone: a new rule of an existing kind needs a spec file and nothing else. The
// generator compiles the spec with the two new rules; every golden case of the new rules goes through
// the embedded OPA, Gatekeeper's engine and CEL (the generated ValidatingAdmissionPolicies), each
// giving the expected findings with the same messages; the real opa runs the generated Rego tests,
// and the real gator verifies the generated suite with both template engines.
func TestNewRuleFromSpecAlone(t *testing.T) {
	if testing.Short() {
		t.Skip("generates every artifact and runs the real opa and gator")
	}
	ctx := context.Background()
	s := specWithNewRules(t)
	files, err := generator.Generate(s)
	require.NoError(t, err)

	pol, err := engine.LoadPolicy(subFS(files, "policies/rego"))
	require.NoError(t, err)
	gk, vp := subFS(files, "gatekeeper"), subFS(files, "vap")

	cases, err := generator.Cases(s)
	require.NoError(t, err)
	type evs struct{ opa, gk, cel engine.Evaluator }
	cache := map[string]evs{}
	get := func(profile string) evs {
		if e, ok := cache[profile]; ok {
			return e
		}
		var e evs
		e.opa, err = engine.NewOPA(ctx, pol, profile, nil)
		require.NoError(t, err)
		e.gk, err = engine.NewGatekeeper(ctx, gk, profile, nil)
		require.NoError(t, err)
		e.cel, err = engine.LoadCEL(vp, profile, nil)
		require.NoError(t, err)
		cache[profile] = e
		return e
	}
	ruleFindings := func(fs []report.Finding, rule string) []string {
		var out []string
		for _, f := range fs {
			if f.Rule == rule {
				out = append(out, f.Field+" | "+f.Container+" | "+f.Message)
			}
		}
		sort.Strings(out)
		return out
	}
	counts := map[string]int{}
	for _, c := range cases {
		if !slices.Contains(newRules, c.Rule) {
			continue
		}
		require.Empty(t, c.Params, "the new rules have no parameters")
		for _, profile := range []string{"hostprocess", "strict"} {
			e := get(profile)
			opaF, err := e.opa.Evaluate(ctx, c.Object)
			require.NoError(t, err, c.Name)
			got := ruleFindings(opaF, c.Rule)
			var fields, want []string
			for _, g := range got {
				field, rest, _ := strings.Cut(g, " | ")
				container, msg, _ := strings.Cut(rest, " | ")
				require.True(t, strings.HasPrefix(msg, field+" is "), "%s: the message starts with the field: %s", c.Name, msg)
				fields = append(fields, field+" | "+container)
			}
			for _, x := range c.Expect {
				want = append(want, x.Field+" | "+x.Container)
			}
			sort.Strings(want)
			fields = slices.Compact(fields)
			require.Equal(t, len(want), len(fields), "%s (%s): findings %v, want %v", c.Name, profile, got, want)
			if len(want) > 0 {
				require.Equal(t, want, fields, "%s (%s)", c.Name, profile)
			}
			gkF, err := e.gk.Evaluate(ctx, c.Object)
			require.NoError(t, err, c.Name)
			require.Equal(t, got, ruleFindings(gkF, c.Rule), "%s (%s): Gatekeeper agrees with OPA", c.Name, profile)
			celF, err := e.cel.Evaluate(ctx, c.Object)
			require.NoError(t, err, c.Name)
			require.Equal(t, got, ruleFindings(celF, c.Rule), "%s (%s): CEL agrees with OPA", c.Name, profile)
			counts[c.Rule+map[bool]string{true: " allowed", false: " disallowed"}[c.Allowed]]++
		}
	}
	for _, id := range newRules {
		require.Positive(t, counts[id+" allowed"], "%s has allowed cases", id)
		require.Positive(t, counts[id+" disallowed"], "%s has disallowed cases", id)
	}
	t.Logf("new rules through OPA, Gatekeeper and CEL: %v", counts)

	// The real tools, on the generated files written out.
	dir := t.TempDir()
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.Path))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, f.Data, 0o644))
	}
	opa, gator := pinnedTool(t, "opa", "tools"), pinnedTool(t, "gator", "tools")
	out, err := exec.Command(opa, "test", filepath.Join(dir, "policies", "rego")).CombinedOutput()
	require.NoError(t, err, "opa test: %s", out)
	for _, id := range newRules {
		require.FileExists(t, filepath.Join(dir, "policies", "rego", "rules", strings.ReplaceAll(id, "-", "_")+"_test.rego"))
	}
	t.Logf("opa test: %s", strings.TrimSpace(lastLine(string(out))))
	for _, native := range []string{"false", "true"} {
		cmd := exec.Command(gator, "verify", "-v", "--run", "^("+strings.Join(newRules, "|")+")$", path.Join(dir, "gatekeeper")+"/", "--enable-k8s-native-validation="+native)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "gator verify (k8s native validation %s): %s", native, out)
		for _, id := range newRules {
			require.Contains(t, string(out), id, "gator verify runs the tests of %s", id)
		}
	}
}

// pinnedTool returns a tool of .bin/ (opa, gator, conftest), building it with `make target` when it
// is missing.
func pinnedTool(t *testing.T, name, target string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", ".bin", name))
	require.NoError(t, err)
	if _, err := os.Stat(p); err == nil {
		return p
	}
	cmd := exec.Command("make", "--no-print-directory", target)
	cmd.Dir = ".."
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "make %s: %s", target, out)
	return p
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndex(s, "\n"); i >= 0 {
		return s[i+1:]
	}
	return s
}
