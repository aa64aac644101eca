package check

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hpguard/hpguard/internal/manifest"
	"github.com/hpguard/hpguard/internal/report"
)

// stub reports one deny and one warn finding for every workload.
type stub struct{}

func (stub) Evaluate(context.Context, map[string]any) ([]report.Finding, error) {
	return []report.Finding{
		{Rule: "host-network-required", Severity: report.SeverityDeny, Field: "spec.template.spec.hostNetwork", Message: "set hostNetwork"},
		{Rule: "resource-limits-set", Severity: report.SeverityWarn, Field: "spec.template.spec.containers[0].resources.limits.cpu", Container: "c", Message: "set limits"},
	}, nil
}

func known(id string) bool { return id == "host-network-required" || id == "resource-limits-set" }

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o700))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	}
	return dir
}

func runStub(t *testing.T, opts Options) *report.Report {
	t.Helper()
	opts.Evaluator, opts.Workers, opts.KnownRule, opts.Limits = stub{}, 2, known, manifest.DefaultOptions()
	rep, err := Run(context.Background(), opts)
	require.NoError(t, err)
	return rep
}

const daemonSet = `apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
  namespace: kube-system
  annotations:
%s
spec:
  template:
    metadata:
      annotations:
%s
    spec:
      containers: [{name: c, image: i}]
`

func ds(workload, template string) string {
	indent := func(s, pad string) string {
		if s == "" {
			return pad + "x: y"
		}
		return pad + strings.ReplaceAll(s, "\n", "\n"+pad)
	}
	return strings.Replace(strings.Replace(daemonSet, "%s", indent(workload, "    "), 1), "%s", indent(template, "        "), 1)
}

// TestSuppressions: a reason suppresses (workload or pod template annotation), an empty reason is a
// deny finding at the annotation and suppresses nothing, an unknown rule is a warn finding, and
// NoSuppressions reports everything as open.
func TestSuppressions(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"reason.yaml":   ds(`hpguard.io/ignore-host-network-required: "the CNI runs in its own network namespace"`, ""),
		"template.yaml": ds("", `hpguard.io/ignore-resource-limits-set: "limits are set by the node's job object"`),
		"empty.yaml":    ds(`hpguard.io/ignore-host-network-required: "  "`, ""),
		"unknown.yaml":  ds(`hpguard.io/ignore-host-network-requird: "typo"`, ""),
	})
	type got struct{ rule, status, reason string }
	findings := func(rep *report.Report, file string) []got {
		var out []got
		for _, r := range rep.Results {
			if filepath.Base(r.File) != file {
				continue
			}
			for _, f := range r.Findings {
				g := got{rule: f.Rule, status: f.Status}
				if f.Suppression != nil {
					g.reason = f.Suppression.Reason + " @" + f.Suppression.Annotation
				}
				out = append(out, g)
			}
		}
		return out
	}
	rep := runStub(t, Options{Paths: []string{dir}})
	require.Equal(t, []got{{"host-network-required", "suppressed", "the CNI runs in its own network namespace @hpguard.io/ignore-host-network-required"},
		{"resource-limits-set", "", ""}}, findings(rep, "reason.yaml"))
	require.Equal(t, []got{{"host-network-required", "", ""},
		{"resource-limits-set", "suppressed", "limits are set by the node's job object @hpguard.io/ignore-resource-limits-set"}}, findings(rep, "template.yaml"))
	require.Equal(t, []got{{"host-network-required", "", ""}, {"resource-limits-set", "", ""}, {RuleSuppressionReason, "", ""}}, findings(rep, "empty.yaml"))
	require.Equal(t, []got{{"host-network-required", "", ""}, {"resource-limits-set", "", ""}, {RuleSuppressionUnknown, "", ""}}, findings(rep, "unknown.yaml"))
	require.Equal(t, report.Summary{Files: 4, Documents: 4, Checked: 4, Deny: 4, Warn: 4, Suppressed: 2}, rep.Summary)

	for _, r := range rep.Results {
		for _, f := range r.Findings {
			switch f.Rule {
			case RuleSuppressionReason:
				require.Equal(t, report.SeverityDeny, f.Severity)
				require.Equal(t, `metadata.annotations["hpguard.io/ignore-host-network-required"]`, f.Field)
				require.Equal(t, 7, f.Line, "the annotation's line")
				require.Contains(t, f.Message, "has no reason")
			case RuleSuppressionUnknown:
				require.Equal(t, report.SeverityWarn, f.Severity)
			}
		}
	}

	rep = runStub(t, Options{Paths: []string{dir}, NoSuppressions: true})
	require.Equal(t, report.Summary{Files: 4, Documents: 4, Checked: 4, Deny: 5, Warn: 5}, rep.Summary, "--no-suppressions: all open")
	require.Equal(t, 1, ExitCode(runStub(t, Options{Paths: []string{filepath.Join(dir, "empty.yaml")}}), report.SeverityDeny))
}

// TestSuppressedNeverFail: a document whose findings are all suppressed passes, even with
// --fail-on warn.
func TestSuppressedNeverFail(t *testing.T) {
	dir := writeFiles(t, map[string]string{"a.yaml": ds(
		"hpguard.io/ignore-host-network-required: \"reviewed: CNI\"\nhpguard.io/ignore-resource-limits-set: \"reviewed: limits\"", "")})
	rep := runStub(t, Options{Paths: []string{dir}})
	require.Equal(t, 2, rep.Summary.Suppressed)
	require.Equal(t, 0, ExitCode(rep, report.SeverityWarn))
}

// TestMixedRepository: documents that are not Kubernetes objects are skipped with their reason, one
// with only apiVersion or kind and syntax errors stay errors, a Helm chart is one error with a
// hint (its templates are not read), and ignored paths are not read.
func TestMixedRepository(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		".github/workflows/ci.yml":     "name: ci\non: [push]\njobs:\n  test:\n    runs-on: ubuntu-latest\n",
		"package.json":                 `{"name": "web", "scripts": {"test": "jest"}}`,
		"deploy/ds.yaml":               ds("", ""),
		"deploy/half.yaml":             "kind: Pod\nmetadata: {name: p}\n",
		"chart/Chart.yaml":             "apiVersion: v2\nname: c\nversion: 0.1.0\n",
		"chart/templates/ds.yaml":      "{{- if .Values.enabled }}\napiVersion: v1\n{{- end }}\n",
		"legacy/broken.yaml":           "apiVersion: v1\nkind: Pod\nmetadata: [unclosed\n",
		"legacy/tsconfig.json":         "{\n  // comments\n  \"strict\": true,\n}\n",
		"overlay/kustomization.yaml":   "resources: [ds.yaml]\n",
		"overlay/ds.yaml":              "a: [unclosed\n",
		"overlay/patch.yaml":           "kind: DaemonSet\nmetadata: {name: x}\n",
		"docs/broken.yaml":             "a: [unclosed\n",
		"docs/nested/more/broken.yaml": "a: [unclosed\n",
	})
	var ignored []string
	rep := runStub(t, Options{Paths: []string{dir},
		Ignore: func(arg, path string, isDir bool) string {
			rel, _ := filepath.Rel(arg, path)
			if rel == "docs" {
				return "docs/**"
			}
			return ""
		},
		Ignored: func(path, pattern string) { ignored = append(ignored, path+" "+pattern) },
	})
	var got []string
	for _, r := range rep.Results {
		rel, _ := filepath.Rel(dir, r.File)
		s := rel + " " + string(r.Status) + " " + r.Reason
		if r.Error != "" {
			s += strings.ReplaceAll(r.Error, dir+string(filepath.Separator), "")
		}
		got = append(got, s)
	}
	require.Equal(t, []string{
		".github/workflows/ci.yml skipped not a Kubernetes object: neither apiVersion nor kind",
		"chart error chart is a Helm chart (it holds Chart.yaml): its templates are not manifests until rendered, so it is not read. " +
			"Render it: hpguard check --helm-chart chart, or helm template chart | hpguard check -; or leave it out with --ignore",
		"deploy/ds.yaml checked ",
		`deploy/half.yaml error deploy/half.yaml:1: missing "apiVersion"`,
		"legacy/broken.yaml error legacy/broken.yaml:3: yaml: line 3: did not find expected ',' or ']'",
		"legacy/tsconfig.json skipped not a Kubernetes object: not valid YAML or JSON (line 2: did not find expected ',' or '}'), and it names neither apiVersion nor kind",
		"overlay error overlay is a kustomization: its files are not what it deploys until built, so they are not read. " +
			"Build it: hpguard check -k overlay, or kubectl kustomize overlay | hpguard check -; or leave it out with --ignore",
		"package.json skipped not a Kubernetes object: neither apiVersion nor kind",
	}, got)
	require.Equal(t, []string{filepath.Join(dir, "docs") + " docs/**"}, ignored)
	require.Equal(t, 2, ExitCode(rep, report.SeverityDeny))

	t.Run("charts and kustomizations rendered in their place", func(t *testing.T) {
		var asked []string
		rep := runStub(t, Options{Paths: []string{dir}, Render: func(in manifest.Input) []Source {
			rel, _ := filepath.Rel(dir, in.Path)
			asked = append(asked, fmt.Sprintf("%s chart=%v kustomization=%v", rel, in.Chart, in.Kustomization))
			if in.Chart {
				return nil // rendered nothing: no result, as for an empty file
			}
			return []Source{{Name: "kustomize build " + rel, Data: []byte(ds("", "")), Arg: rel}}
		}})
		require.Equal(t, []string{"chart chart=true kustomization=false", "overlay chart=false kustomization=true"}, asked)
		var files []string
		for _, r := range rep.Results {
			files = append(files, r.File)
		}
		require.Equal(t, "kustomize build overlay", files[len(files)-2], "in the place of the directory, in path order")
		require.Equal(t, 9, rep.Summary.Files, "8 files read and 1 kustomization built")
	})
	t.Run("a chart given by name", func(t *testing.T) {
		rep := runStub(t, Options{Paths: []string{filepath.Join(dir, "chart")}})
		require.Len(t, rep.Results, 1)
		require.Contains(t, rep.Results[0].Error, "is a Helm chart")
	})
	t.Run("only documents that are not Kubernetes objects is an empty run", func(t *testing.T) {
		p := filepath.Join(dir, ".github")
		rep := runStub(t, Options{Paths: []string{p}})
		require.True(t, EmptyRun(rep))
		require.Equal(t, 2, ExitCode(rep, report.SeverityDeny))
		rep = runStub(t, Options{Paths: []string{p}, AllowEmpty: true})
		require.Equal(t, report.Summary{Files: 1, Documents: 1, Skipped: 1}, rep.Summary)
		require.Equal(t, 0, ExitCode(rep, report.SeverityDeny))
	})
}
