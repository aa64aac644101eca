package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hpguard/hpguard/internal/render"
	"github.com/hpguard/hpguard/internal/report"
)

// renderFixtures are the charts and kustomizations of tests/render.
var renderFixtures = filepath.Join("..", "..", "tests", "render")

// checkJSON runs check -o json and decodes the report.
func checkJSON(t *testing.T, args ...string) (report.Report, string, int) {
	t.Helper()
	out, errOut, code := run(t, "", append([]string{"check", "-o", "json"}, args...)...)
	var rep report.Report
	require.NoError(t, json.Unmarshal([]byte(out), &rep), "stdout:\n%s\nstderr:\n%s", out, errOut)
	return rep, errOut, code
}

// finding is "file:line rule field (line N)" of each finding of a report, and "file:line status"
// of each result without one.
func findings(rep report.Report) []string {
	var out []string
	for _, r := range rep.Results {
		if len(r.Findings) == 0 {
			out = append(out, r.File+":"+itoa(r.Line)+" "+string(r.Status)+" "+r.Kind)
		}
		for _, f := range r.Findings {
			out = append(out, r.File+":"+itoa(r.Line)+" "+f.Rule+" "+f.Field+" (line "+itoa(f.Line)+")")
		}
	}
	return out
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// lineOf is the 1-based line of the first line of text holding s.
func lineOf(t *testing.T, text, s string) int {
	t.Helper()
	i := strings.Index(text, s)
	require.GreaterOrEqual(t, i, 0, "%q not in\n%s", s, text)
	return strings.Count(text[:i], "\n") + 1
}

func TestCheckHelmChart(t *testing.T) {
	chart := filepath.Join(renderFixtures, "chart-hostprocess")
	const cm, ds = "hostprocess-agent/templates/configmap.yaml", "hostprocess-agent/templates/daemonset.yaml"

	// The defaults pass: one result per rendered template, labelled as `helm template` labels them.
	rep, errOut, code := checkJSON(t, "--helm-chart", chart)
	require.Equal(t, 0, code, errOut)
	require.Equal(t, []string{cm + ":1 skipped ConfigMap", ds + ":1 checked DaemonSet"}, findings(rep))
	require.Equal(t, report.Summary{Files: 2, Documents: 2, Checked: 1, Skipped: 1}, rep.Summary)
	require.Equal(t, "release-name-hostprocess-agent", rep.Results[1].Name)
	require.Equal(t, "default", rep.Results[1].Namespace)

	// A values file introduces the finding; its line is that of the rendered template.
	insecure := filepath.Join(chart, "values-insecure.yaml")
	rep, errOut, code = checkJSON(t, "--helm-chart", chart, "--values", insecure, "--release-name", "agent", "--namespace", "kube-system")
	require.Equal(t, 1, code, errOut)
	require.Equal(t, []string{cm + ":1 skipped ConfigMap", ds + ":1 host-network-required spec.template.spec.hostNetwork (line 24)"}, findings(rep))
	outs, err := render.Helm(render.HelmOptions{Chart: chart, ValuesFiles: []string{insecure}})
	require.NoError(t, err)
	require.Equal(t, 24, lineOf(t, string(outs[1].Data), "hostNetwork: false"), "the line is that of the rendered template")
	require.Equal(t, "agent-hostprocess-agent", rep.Results[1].Name)
	require.Equal(t, "kube-system", rep.Results[1].Namespace)

	// --set-value wins over --values, as helm --set does.
	_, errOut, code = checkJSON(t, "--helm-chart", chart, "--values", insecure, "--set-value", "hostNetwork=true")
	require.Equal(t, 0, code, errOut)
	rep, errOut, code = checkJSON(t, "--helm-chart", chart, "--set-value", "hostNetwork=false", "--set-value", `runAsUserName=NT AUTHORITY\\SYSTEM`)
	require.Equal(t, 1, code, errOut)
	require.Equal(t, []string{cm + ":1 skipped ConfigMap",
		ds + ":1 host-network-required spec.template.spec.hostNetwork (line 24)",
		ds + ":1 least-privilege-account spec.template.spec.securityContext.windowsOptions.runAsUserName (line 23)"}, findings(rep))

	// The text report names the template and the line of the rendered output.
	out, _, code := run(t, "", "check", "--helm-chart", chart, "--values", insecure)
	require.Equal(t, 1, code)
	require.Contains(t, out, ds+":1 DaemonSet default/release-name-hostprocess-agent")
	require.Contains(t, out, "spec.template.spec.hostNetwork (line 24)")
}

func TestCheckKustomize(t *testing.T) {
	prod := filepath.Join(renderFixtures, "kustomize", "overlays", "prod")
	base := filepath.Join(renderFixtures, "kustomize", "base")
	label := "kustomize build " + prod

	// The overlay's patch introduces the finding; lines are those of the built stream (the
	// ConfigMap first, then the DaemonSet from line 9, in kustomize's order by kind).
	rep, errOut, code := checkJSON(t, "-k", prod)
	require.Equal(t, 1, code, errOut)
	require.Equal(t, []string{label + ":1 skipped ConfigMap",
		label + ":9 run-as-non-root-not-true spec.template.spec.securityContext.runAsNonRoot (line 34)"}, findings(rep))
	built, err := render.Kustomize(prod)
	require.NoError(t, err)
	require.Equal(t, 34, lineOf(t, string(built.Data), "runAsNonRoot: true"), "the line is that of the built stream")
	require.Equal(t, "prod-node-agent", rep.Results[1].Name)
	require.Equal(t, 1, rep.Results[1].Document)

	// The base passes; -k is repeatable and paths come first.
	rep, errOut, code = checkJSON(t, "-k", base, "-k", prod, "testdata/check/list.yaml")
	require.Equal(t, 1, code, errOut)
	require.Equal(t, 3, rep.Summary.Files)
	var files []string
	for _, r := range rep.Results {
		if len(files) == 0 || files[len(files)-1] != r.File {
			files = append(files, r.File)
		}
	}
	require.Equal(t, []string{"testdata/check/list.yaml", "kustomize build " + base, label}, files)
	_, errOut, code = checkJSON(t, "-k", base)
	require.Equal(t, 0, code, errOut)
}

func TestCheckRenderErrors(t *testing.T) {
	tmp := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(tmp, "empty", "templates"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(tmp, "empty", "Chart.yaml"), []byte("apiVersion: v2\nname: empty\nversion: 0.1.0\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(tmp, "empty", "templates", "off.yaml"), []byte("{{- if .Values.on }}\nkind: Pod\n{{- end }}\n"), 0o644))
	remote := filepath.Join(renderFixtures, "kustomize", "overlays", "remote")
	for _, tt := range []struct {
		name     string
		args     []string
		contains string
	}{
		{"remote base", []string{"-k", remote}, `refers to "github.com/hpguard/hpguard//examples?ref=main": remote reference: hpguard builds kustomizations offline`},
		{"no kustomization", []string{"-k", renderFixtures}, "no kustomization file"},
		{"missing directory", []string{"-k", filepath.Join(tmp, "nope")}, "not a directory"},
		{"missing chart", []string{"--helm-chart", filepath.Join(tmp, "nope")}, "no such file or directory"},
		{"invalid chart", []string{"--helm-chart", filepath.Join(renderFixtures, "chart-invalid")}, "invalid/templates/configmap.yaml"},
		{"dependency not vendored", []string{"--helm-chart", filepath.Join(renderFixtures, "chart-missing-dep")}, "missing in charts/ directory: common"},
		{"bad --set-value", []string{"--helm-chart", filepath.Join(renderFixtures, "chart-hostprocess"), "--set-value", "a.b"}, "--set-value"},
		{"chart rendering nothing", []string{"--helm-chart", filepath.Join(tmp, "empty")}, "rendered no Kubernetes object: nothing was checked"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rep, errOut, code := checkJSON(t, tt.args...)
			require.Equal(t, 2, code, errOut)
			require.Equal(t, report.StatusError, rep.Results[0].Status)
			require.Contains(t, rep.Results[0].Error, tt.contains)
		})
	}
	// The other inputs are still checked.
	rep, _, code := checkJSON(t, "-k", remote, "testdata/check/list.yaml")
	require.Equal(t, 2, code)
	require.Equal(t, 1, rep.Summary.Errors)
	require.Positive(t, rep.Summary.Checked)

	_, _, code = checkJSON(t, "--allow-empty", "--helm-chart", filepath.Join(tmp, "empty"))
	require.Equal(t, 0, code)
	for _, args := range [][]string{{"check"}, {"check", "--values", "v.yaml", "-k", "x"}, {"check", "--release-name", "r", "x.yaml"}} {
		out, errOut, code := run(t, "", args...)
		require.Equal(t, 2, code, out)
		require.Regexp(t, "nothing to check|needs --helm-chart", errOut)
	}
}
