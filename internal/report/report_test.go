package report

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

const updateCommand = "go test ./internal/report -run Golden -update"

// Files of the fixture report.
const (
	fileKubeProxy = "examples/kube-proxy.yaml"
	fileExporter  = "examples/windows-exporter.yaml"
	fileTeam      = "manifests/team a,b/agent.yaml" // a space and a comma: URI and property escaping
)

// oddMessage has a line break, a comma, a percent sign, quotes, a backslash
// and a colon: everything some format has to escape.
const oddMessage = "runAsUserName \"NT AUTHORITY\\SYSTEM\" gives the container 100% of the node's privileges,\n" +
	"use a least-privileged account: NT AUTHORITY\\LOCAL SERVICE"

// testRules are the rules of the fixture profile, one of them without findings.
func testRules() []Rule {
	return []Rule{
		{
			ID:          "host-network-required",
			Title:       "HostProcess pods must use the host network",
			Description: "A pod with HostProcess containers shares the node's network namespace, so spec.hostNetwork must be true.",
			Remediation: "Set hostNetwork: true in the pod spec.",
			Severity:    SeverityDeny,
			Sources:     []string{"https://kubernetes.io/docs/tasks/configure-pod-container/create-hostprocess-pod/"},
			HelpURI:     "https://github.com/hpguard/hpguard/blob/main/docs/rules/host-network-required.md",
		},
		{
			ID:          "run-as-least-privilege",
			Title:       "HostProcess containers should not run as SYSTEM",
			Description: "HostProcess containers run as the account in windowsOptions.runAsUserName; NT AUTHORITY\\SYSTEM has full control of the node.",
			Remediation: "Run as NT AUTHORITY\\LOCAL SERVICE or NT AUTHORITY\\NETWORK SERVICE unless SYSTEM is required.",
			Severity:    SeverityDeny,
			Sources: []string{
				"https://kubernetes.io/docs/tasks/configure-pod-container/create-hostprocess-pod/#choosing-a-user-account",
				"Pod Security Standards (baseline)",
			},
			HelpURI: "https://github.com/hpguard/hpguard/blob/main/docs/rules/run-as-least-privilege.md",
		},
		{
			ID:          "image-pinned",
			Title:       "HostProcess images should be pinned by digest",
			Description: "A HostProcess container has full access to the node; a mutable tag lets a registry push change what runs there.",
			Remediation: "Reference the image by digest (image@sha256:...).",
			Severity:    SeverityWarn,
			HelpURI:     "https://github.com/hpguard/hpguard/blob/main/docs/rules/image-pinned.md",
		},
		{
			ID:          "all-containers-hostprocess",
			Title:       "All containers of a HostProcess pod must be HostProcess",
			Description: "Windows does not support mixing HostProcess and non-HostProcess containers in one pod.",
			Remediation: "Set securityContext.windowsOptions.hostProcess: true on every container, or on the pod.",
			Severity:    SeverityDeny,
		},
	}
}

// testReport is a realistic report: three files, checked documents with deny
// and warn findings (container-level and pod-level), a document without
// findings, a skipped document and two documents that could not be read.
func testReport() *Report {
	results := []Result{
		{
			File: fileKubeProxy, Document: 1, Line: 1,
			APIVersion: "apps/v1", Kind: "DaemonSet", Namespace: "kube-system", Name: "kube-proxy",
			Status: StatusChecked,
			Findings: []Finding{
				{
					Rule: "host-network-required", Severity: SeverityDeny,
					Message: "hostNetwork is false; HostProcess pods must set spec.template.spec.hostNetwork: true",
					Field:   "spec.template.spec.hostNetwork", Line: 14,
				},
				{
					Rule: "run-as-least-privilege", Severity: SeverityDeny,
					Message:   "runAsUserName is NT AUTHORITY\\SYSTEM; use NT AUTHORITY\\LOCAL SERVICE",
					Field:     "spec.template.spec.containers[0].securityContext.windowsOptions.runAsUserName",
					Container: "kube-proxy", Line: 27,
				},
				{
					Rule: "image-pinned", Severity: SeverityWarn,
					Message:   "image sigwindowstools/kube-proxy:v1.30.1 is not pinned by digest",
					Field:     "spec.template.spec.containers[0].image",
					Container: "kube-proxy", Line: 22,
				},
			},
		},
		{
			File: fileKubeProxy, Document: 2, Line: 38,
			APIVersion: "v1", Kind: "ConfigMap", Namespace: "kube-system", Name: "kube-proxy-windows",
			Status: StatusSkipped,
		},
		{
			File: fileExporter, Document: 1, Line: 1,
			APIVersion: "apps/v1", Kind: "DaemonSet", Namespace: "monitoring", Name: "windows-exporter",
			Status: StatusChecked, Findings: []Finding{},
		},
		{
			File: fileExporter, Document: 2, Line: 41,
			APIVersion: "batch/v1", Kind: "Job", Namespace: "monitoring", Name: "collect-etw",
			Status: StatusChecked,
			Findings: []Finding{
				{
					Rule: "image-pinned", Severity: SeverityWarn,
					Message: "image mcr.microsoft.com/windows/nanoserver:ltsc2022 is not pinned by digest",
					Field:   "spec.template.spec.containers[0].image", Container: "collect", Line: 58,
				},
			},
		},
		{
			File: fileTeam, Document: 1, Line: 1,
			APIVersion: "v1", Kind: "Pod", Name: "agent",
			Status: StatusChecked,
			Findings: []Finding{
				{
					// Line unknown: reporters fall back to the document's line.
					Rule: "run-as-least-privilege", Severity: SeverityDeny,
					Message: oddMessage,
					Field:   "spec.securityContext.windowsOptions.runAsUserName",
				},
			},
		},
		{
			File: fileTeam, Document: 2, Line: 19,
			APIVersion: "apps/v1", Kind: "Deployment", Namespace: "team-a", Name: "broken",
			Status: StatusError,
			Error:  "spec.template.spec.containers: expected a list, got a mapping",
		},
		{
			File: fileTeam, Document: 3, Line: 40,
			Status: StatusError,
			Error:  "yaml: line 44: mapping values are not allowed in this context",
		},
	}
	return &Report{
		Version: 1,
		Profile: "baseline",
		Summary: Summarize(results, 3),
		Results: results,
	}
}

func testOptions() Options {
	return Options{Rules: testRules(), ToolVersion: "1.4.0"}
}

// render writes the report in format with opts.
func render(t *testing.T, format string, r *Report, opts Options) []byte {
	t.Helper()
	rep, err := Get(format)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := rep.Write(&buf, r, opts); err != nil {
		t.Fatalf("%s: Write: %v", format, err)
	}
	return buf.Bytes()
}

// checkGolden compares got with testdata/golden/<name>.golden, or rewrites
// the file when -update is given.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name+".golden")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v\nto create it, run: %s", err, updateCommand)
	}
	if bytes.Equal(got, want) {
		return
	}
	gotLines, wantLines := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	i := 0
	for i < len(gotLines) && i < len(wantLines) && gotLines[i] == wantLines[i] {
		i++
	}
	at := func(lines []string) string {
		if i < len(lines) {
			return lines[i]
		}
		return "<end of output>"
	}
	t.Errorf("output differs from %s, first at line %d:\n  want: %q\n   got: %q\n"+
		"if the new output is right, run: %s", path, i+1, at(wantLines), at(gotLines), updateCommand)
}

func TestGolden(t *testing.T) {
	cases := []struct {
		name, format string
		opts         Options
	}{
		{"text", "text", testOptions()},
		{"text_verbose", "text", Options{Verbose: true}},
		{"json", "json", testOptions()},
		{"junit", "junit", testOptions()},
		{"sarif", "sarif", testOptions()},
		{"tap", "tap", testOptions()},
		{"github", "github", testOptions()},
	}
	covered := map[string]bool{}
	for _, c := range cases {
		covered[c.format] = true
		t.Run(c.name, func(t *testing.T) {
			checkGolden(t, c.name, render(t, c.format, testReport(), c.opts))
		})
	}
	for _, name := range Names() {
		if !covered[name] {
			t.Errorf("format %q has no golden test case", name)
		}
	}
}

// TestWriteDoesNotModifyReport guards against reporters normalising the
// caller's report in place.
func TestWriteDoesNotModifyReport(t *testing.T) {
	for _, name := range Names() {
		r := testReport()
		r.Results[1].Findings = nil
		want := testReport()
		want.Results[1].Findings = nil
		render(t, name, r, testOptions())
		if !reflect.DeepEqual(r, want) {
			t.Errorf("%s reporter modified the report", name)
		}
	}
}

func TestNames(t *testing.T) {
	want := []string{"github", "json", "junit", "sarif", "tap", "text"}
	if got := Names(); !slices.Equal(got, want) {
		t.Fatalf("Names() = %q, want %q", got, want)
	}
	if !slices.Contains(Names(), DefaultFormat) {
		t.Errorf("default format %q is not registered", DefaultFormat)
	}
	for _, name := range want {
		if r, err := Get(name); err != nil || r == nil {
			t.Errorf("Get(%q) = %v, %v", name, r, err)
		}
	}
}

func TestGetUnknownFormat(t *testing.T) {
	for _, name := range []string{"xml", "", "JSON"} {
		r, err := Get(name)
		if err == nil {
			t.Fatalf("Get(%q) = %v, want an error", name, r)
		}
		want := `unknown output format "` + name + `" (valid: github, json, junit, sarif, tap, text)`
		if err.Error() != want {
			t.Errorf("Get(%q) error = %q, want %q", name, err, want)
		}
	}
}

func TestRegisterTwicePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("registering a format twice did not panic")
		}
	}()
	register("text", textReporter{})
}

func TestSummarize(t *testing.T) {
	got := Summarize(testReport().Results, 3)
	want := Summary{Files: 3, Documents: 7, Checked: 4, Skipped: 1, Errors: 2, Deny: 3, Warn: 2}
	if got != want {
		t.Errorf("Summarize = %+v, want %+v", got, want)
	}
	if got := Summarize(nil, 2); got != (Summary{Files: 2}) {
		t.Errorf("Summarize(nil, 2) = %+v, want only Files: 2", got)
	}
}

func TestSummaryString(t *testing.T) {
	cases := []struct {
		s    Summary
		want string
	}{
		{
			Summary{Files: 7, Documents: 12, Checked: 9, Skipped: 2, Errors: 1, Deny: 5, Warn: 2},
			"12 documents in 7 files: 9 checked, 2 skipped, 1 error; 5 deny, 2 warn",
		},
		{
			Summary{Files: 1, Documents: 1, Checked: 1},
			"1 document in 1 file: 1 checked, 0 skipped, 0 errors; 0 deny, 0 warn",
		},
	}
	for _, c := range cases {
		if got := c.s.String(); got != c.want {
			t.Errorf("String() = %q, want %q", got, c.want)
		}
	}
}

func TestDescribe(t *testing.T) {
	cases := []struct {
		r    Result
		want string
	}{
		{Result{File: "a.yaml", Line: 3, Kind: "Pod", Namespace: "ns", Name: "p"}, "a.yaml:3 Pod ns/p"},
		{Result{File: "a.yaml", Line: 3, Kind: "Namespace", Name: "ns"}, "a.yaml:3 Namespace ns"},
		{Result{File: "a.yaml", Document: 2, Line: 9}, "a.yaml:9 (document 2)"},
		{Result{File: "a.yaml", Document: 1}, "a.yaml (document 1)"},
	}
	for _, c := range cases {
		if got := describe(c.r); got != c.want {
			t.Errorf("describe(%+v) = %q, want %q", c.r, got, c.want)
		}
	}
}
