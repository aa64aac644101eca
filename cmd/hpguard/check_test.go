package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"
	"golang.org/x/text/encoding/unicode"

	"github.com/hpguard/hpguard/internal/engine"
	"github.com/hpguard/hpguard/internal/report"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// run executes the CLI as main would and returns stdout, stderr and the exit code.
func run(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRootCmd(strings.NewReader(stdin), &out, &errOut)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	code := 0
	if err != nil {
		code = exitError2
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
			if ee.err != nil {
				errOut.WriteString(ee.err.Error())
			}
		} else {
			errOut.WriteString(err.Error())
		}
	}
	return out.String(), errOut.String(), code
}

func matchGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "missing golden file; run: go test ./cmd/hpguard -run %s -update", t.Name())
	require.Equal(t, string(want), got, "output differs from %s; if the change is intended run: go test ./cmd/hpguard -run %s -update", path, t.Name())
}

// TestCheckOutputGolden renders the same inputs in every format; broken.yaml makes it exit 2.
func TestCheckOutputGolden(t *testing.T) {
	for _, format := range report.Names() {
		t.Run(format, func(t *testing.T) {
			out, _, code := run(t, "", "check", "-o", format, "--color", "never", "testdata/check")
			require.Equal(t, 2, code, "errors win over findings")
			matchGolden(t, "check."+format, out)
		})
	}
}

func TestCheckJSONSchema(t *testing.T) {
	out, _, code := run(t, "", "check", "-o", "json", "testdata/check")
	require.Equal(t, 2, code)
	var doc map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &doc))
	require.EqualValues(t, 1, doc["version"])
	require.Equal(t, "hostprocess", doc["profile"])
	summary := doc["summary"].(map[string]any)
	for _, k := range []string{"files", "documents", "checked", "skipped", "errors", "deny", "warn"} {
		require.Contains(t, summary, k)
	}
	var rep report.Report
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	require.Equal(t, 5, rep.Summary.Files, "broken, empty, list, pod.json, workloads")
	statuses := map[report.Status]int{}
	files := []string{}
	for _, r := range rep.Results {
		statuses[r.Status]++
		files = append(files, r.File)
		require.NotNil(t, r.Findings)
		if r.Status == report.StatusError {
			require.NotEmpty(t, r.Error)
			require.Greater(t, r.Line, 0, "errors carry a line")
		}
		for _, f := range r.Findings {
			require.Contains(t, []string{"deny", "warn"}, f.Severity)
			require.NotEmpty(t, f.Rule)
			require.NotEmpty(t, f.Field)
		}
	}
	require.IsNonDecreasing(t, files, "results are ordered by file")
	require.Equal(t, 5, statuses[report.StatusChecked], "broken's first pod, the list item, the json pod, the DaemonSet and the ok pod")
	require.Equal(t, 1, statuses[report.StatusSkipped])
	require.Equal(t, 2, statuses[report.StatusError], "the unclosed flow sequence and the bare list")
	require.Equal(t, rep.Summary.Documents, len(rep.Results))
}

func TestCheckJUnitParses(t *testing.T) {
	out, _, _ := run(t, "", "check", "-o", "junit", "testdata/check")
	var suites struct {
		Suites []struct {
			Name  string `xml:"name,attr"`
			Cases []struct {
				Name     string     `xml:"name,attr"`
				Failures []struct{} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	require.NoError(t, xml.Unmarshal([]byte(out), &suites))
	require.NotEmpty(t, suites.Suites)
	failures := 0
	for _, s := range suites.Suites {
		for _, c := range s.Cases {
			failures += len(c.Failures)
		}
	}
	require.Greater(t, failures, 0)
}

func TestCheckExitCodes(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		stdin    string
		code     int
		contains string // in stdout+stderr
	}{
		{"clean pod", []string{"check", "testdata/check/workloads.yaml", "--set", "least-privilege-account.allowLocalSystem=true"}, "", 1, "host-network-required"},
		{"warn only passes", []string{"check", "testdata/check/list.yaml"}, "", 0, "least-privilege-account"},
		{"warn fails with --fail-on warn", []string{"check", "--fail-on", "warn", "testdata/check/list.yaml"}, "", 1, "WARN"},
		{"opt in silences the warning", []string{"check", "--fail-on", "warn", "--set", "least-privilege-account.allowLocalSystem=true", "testdata/check/list.yaml"}, "", 0, "0 warn"},
		{"json input", []string{"check", "testdata/check/pod.json"}, "", 1, "built-in privileged group"},
		{"broken yaml in one of several files", []string{"check", "testdata/check/broken.yaml", "testdata/check/list.yaml"}, "", 2, "ERROR"},
		{"empty file", []string{"check", "testdata/check/empty.yaml"}, "", 2, "testdata/check/empty.yaml is empty (0 bytes): nothing was checked"},
		{"empty file allowed", []string{"check", "--allow-empty", "testdata/check/empty.yaml"}, "", 0, "0 documents in 1 file"},
		{"missing path", []string{"check", "testdata/check/nope.yaml"}, "", 2, "nope.yaml"},
		{"stdin", []string{"check", "-"}, "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c, image: i, securityContext: {windowsOptions: {hostProcess: true}}}]\n", 1, "<stdin>"},
		{"stdin non-workload", []string{"check", "-v", "-"}, "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n", 0, "skipped"},
		{"unknown format", []string{"check", "-o", "xml", "testdata/check/list.yaml"}, "", 2, "valid: github, json, junit, sarif, tap, text"},
		{"unknown profile", []string{"check", "--profile", "lenient", "testdata/check/list.yaml"}, "", 2, "unknown profile \"lenient\""},
		{"bad --set value", []string{"check", "--set", "run-as-user-name-allowed.allowedLocalGroups=5", "testdata/check/list.yaml"}, "", 2, "does not match its schema"},
		{"--set unknown parameter", []string{"check", "--set", "run-as-user-name-allowed.groups=[a]", "testdata/check/list.yaml"}, "", 2, "has no parameter \"groups\""},
		{"--set without rule", []string{"check", "--set", "groups=[a]", "testdata/check/list.yaml"}, "", 2, "want rule-id.parameter=value"},
		{"bad --fail-on", []string{"check", "--fail-on", "error", "testdata/check/list.yaml"}, "", 2, "want deny or warn"},
		{"baseline flags hostProcess", []string{"check", "--profile", "baseline", "testdata/check/list.yaml"}, "", 1, "hostprocess-disallowed"},
		{"baseline exempt namespace", []string{"check", "--profile", "baseline", "--set", "hostprocess-disallowed.exemptNamespaces=[default]", "testdata/check/list.yaml"}, "", 0, "0 deny"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := run(t, tt.stdin, tt.args...)
			require.Equal(t, tt.code, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
			require.Contains(t, out+errOut, tt.contains)
		})
	}
}

func TestCheckParamsFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	require.NoError(t, os.WriteFile(good, []byte("least-privilege-account:\n  allowLocalSystem: true\n"), 0o644))
	out, _, code := run(t, "", "check", "--fail-on", "warn", "--params", good, "testdata/check/list.yaml")
	require.Equal(t, 0, code, out)
	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("least-privilege-account:\n  allowLocalSystem: \"yes please\"\n"), 0o644))
	_, errOut, code := run(t, "", "check", "--params", bad, "testdata/check/list.yaml")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "least-privilege-account.allowLocalSystem")
	notMap := filepath.Join(dir, "list.yaml")
	require.NoError(t, os.WriteFile(notMap, []byte("- a\n"), 0o644))
	_, _, code = run(t, "", "check", "--params", notMap, "testdata/check/list.yaml")
	require.Equal(t, 2, code)
}

func TestCheckExamples(t *testing.T) {
	out, _, code := run(t, "", "check", "--color", "never", "../../examples")
	require.Equal(t, 1, code, "the examples hold deliberate mistakes")
	for _, want := range []string{"no-named-pipe-or-socket-mounts", "host-network-required", "hostprocess-all-containers", "run-as-non-root-not-true", "windows-node-targeting"} {
		require.Contains(t, out, want)
	}
}

func TestGenerateCheck(t *testing.T) {
	out, _, code := run(t, "", "generate", "--check", "--out", "../..")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "up to date")
}

func TestVersion(t *testing.T) {
	out, _, code := run(t, "", "version")
	require.Equal(t, 0, code)
	require.Regexp(t, `ruleset: hpguard \d+\.\d+\.\d+ \(\d+ rules\)`, out)
	require.Regexp(t, `bundle: revision \d+\.\d+\.\d+\+[0-9a-f]{12}, sha256 [0-9a-f]{64}`, out)
}

func TestRules(t *testing.T) {
	out, _, code := run(t, "", "rules")
	require.Equal(t, 0, code)
	p, err := loadPolicy("")
	require.NoError(t, err)
	for _, id := range p.Ruleset.RuleIDs() {
		require.Contains(t, out, id)
	}
	require.Contains(t, out, "HOSTPROCESS")
	out, _, code = run(t, "", "rules", "least-privilege-account")
	require.Equal(t, 0, code)
	require.Contains(t, out, "hostprocess=warn, strict=deny")
	require.Contains(t, out, "allowLocalSystem")
	require.Contains(t, out, "Disallowed values:")
	_, errOut, code := run(t, "", "rules", "no-such-rule")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "unknown rule")
	out, _, code = run(t, "", "rules", "-o", "json")
	require.Equal(t, 0, code)
	var doc map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &doc))
	require.Len(t, doc["rules"], len(p.Ruleset.Rules))
}

// TestCheckSARIFValidates validates the check output against the SARIF 2.1.0 schema.
func TestCheckSARIFValidates(t *testing.T) {
	out, _, _ := run(t, "", "check", "-o", "sarif", "testdata/check", "../../examples")
	schemaDoc, err := os.ReadFile(filepath.Join("..", "..", "internal", "report", "testdata", "sarif-schema-2.1.0.json"))
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	sd, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemaDoc))
	require.NoError(t, err)
	require.NoError(t, c.AddResource("sarif.json", sd))
	sch, err := c.Compile("sarif.json")
	require.NoError(t, err)
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(out))
	require.NoError(t, err)
	require.NoError(t, sch.Validate(doc))
	var log struct {
		Runs []struct {
			Tool struct {
				Driver struct {
					Rules []struct {
						ID string `json:"id"`
					} `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Results []struct {
				RuleID string `json:"ruleId"`
			} `json:"results"`
		} `json:"runs"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &log))
	require.Len(t, log.Runs, 1)
	require.GreaterOrEqual(t, len(log.Runs[0].Tool.Driver.Rules), 14, "one SARIF rule per hpguard rule of the profile")
	require.NotEmpty(t, log.Runs[0].Results)
}

func TestProgressSilentWhenNotATerminal(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf, false)
	require.False(t, p.on)
	p.update(10)
	p.finish()
	require.Empty(t, buf.String())
	_, errOut, _ := run(t, "", "check", "testdata/check/list.yaml")
	require.Empty(t, errOut, "no progress output on a non-terminal stderr")
}

// TestInitNewRuleCheckSpec walks from `init` to a custom rule evaluated with --spec.
func TestInitNewRuleCheckSpec(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spec")
	_, _, code := run(t, "", "init", dir)
	require.Equal(t, 0, code)
	_, errOut, code := run(t, "", "init", dir)
	require.Equal(t, 2, code, "init refuses an existing spec")
	require.Contains(t, errOut, "already holds a spec")
	out, errOut, code := run(t, "", "new", "rule", "hostprocess-images-from-our-registry", "--spec", dir)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "hostprocess-images-from-our-registry.yaml")
	ruleFile := filepath.Join(dir, "rules", "hostprocess-images-from-our-registry.yaml")
	b, err := os.ReadFile(ruleFile)
	require.NoError(t, err)
	i := strings.Index(string(b), "name: exemptImages")
	require.Greater(t, i, 0)
	text := string(b)[:i] + strings.Replace(string(b)[i:], "    default: []\n", "    default: [\"registry.example.com/*\"]\n", 1)
	require.NoError(t, os.WriteFile(ruleFile, []byte(text), 0o644))
	rs, err := os.ReadFile(filepath.Join(dir, "ruleset.yaml"))
	require.NoError(t, err)
	rsText := strings.Replace(string(rs), "      resource-limits-set: warn\n", "      resource-limits-set: warn\n      hostprocess-images-from-our-registry: deny\n", 1)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "ruleset.yaml"), []byte(rsText), 0o644))
	out, errOut, code = run(t, "", "check", "--spec", dir, "-o", "json", "testdata/check/list.yaml")
	require.Equal(t, 0, code, errOut)
	require.NotContains(t, out, `hostprocess-images-from-our-registry`, "an image from our registry passes")
	out, errOut, code = run(t, "", "check", "--spec", dir, "-o", "json", "../../examples/csi-node-driver.yaml")
	require.Equal(t, 1, code, errOut)
	require.Contains(t, out, `"rule": "hostprocess-images-from-our-registry"`, "an image from elsewhere is reported")
}

// CLIDocsDir holds the generated command reference (`make generate` writes it).
const CLIDocsDir = "docs/cli"

// TestCLIDocsUpToDate is the drift test of docs/cli.
func TestCLIDocsUpToDate(t *testing.T) {
	dir := t.TempDir()
	_, errOut, code := run(t, "", "docs", dir)
	require.Equal(t, 0, code, errOut)
	fresh, err := filepath.Glob(filepath.Join(dir, "*.md"))
	require.NoError(t, err)
	committed, err := filepath.Glob(filepath.Join("..", "..", CLIDocsDir, "*.md"))
	require.NoError(t, err)
	require.Equal(t, len(fresh), len(committed), "docs/cli is out of date; run `make generate`")
	for _, f := range fresh {
		want, err := os.ReadFile(f)
		require.NoError(t, err)
		got, err := os.ReadFile(filepath.Join("..", "..", CLIDocsDir, filepath.Base(f)))
		require.NoError(t, err, "docs/cli is out of date; run `make generate`")
		require.Equal(t, string(want), string(got), "%s is out of date; run `make generate`", filepath.Base(f))
	}
}

// TestCheckEnginesAgree: the Gatekeeper, CEL and Kyverno engines report exactly what the OPA engine reports.
func TestCheckEnginesAgree(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: runs without -short (make test)")
	}
	for _, profile := range []string{"baseline", "hostprocess", "strict"} {
		opa, _, codeOPA := run(t, "", "check", "-o", "json", "--profile", profile, "testdata/check", "../../examples")
		for _, eng := range []string{"gatekeeper", "gatekeeper-combined", "cel", "kyverno"} {
			got, errOut, code := run(t, "", "check", "-o", "json", "--engine", eng, "--profile", profile, "testdata/check", "../../examples")
			require.Equal(t, codeOPA, code, "%s %s: %s", eng, profile, errOut)
			require.Equal(t, opa, got, "profile %s: %s and opa disagree", profile, eng)
		}
	}
	_, errOut, code := run(t, "", "check", "--engine", "kubewarden", "testdata/check")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, `--engine: unknown engine "kubewarden" (valid: cel, gatekeeper, gatekeeper-combined, kyverno, opa)`)
}

// TestCheckEnginesValidateParamsAlike: every engine refuses bad parameters with the same message.
func TestCheckEnginesValidateParamsAlike(t *testing.T) {
	for _, set := range []string{
		"run-as-user-name-allowed.allowedLocalGroups=5",
		"run-as-user-name-allowed.groups=[a]",
		"no-such-rule.x=1",
	} {
		_, want, code := run(t, "", "check", "--set", set, "testdata/check/list.yaml")
		require.Equal(t, 2, code, want)
		require.Contains(t, want, "invalid parameters: ")
		for _, eng := range engine.Names() {
			_, got, code := run(t, "", "check", "--engine", eng, "--set", set, "testdata/check/list.yaml")
			require.Equal(t, 2, code, got)
			require.Equal(t, want, got, "%s --set %s", eng, set)
		}
	}
}

// TestREADMEQuickStartOutput keeps the README's sample output true: it is what
// `hpguard check examples/` prints from the project root.
func TestREADMEQuickStartOutput(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	s := string(readme)
	i := strings.Index(s, "```text\n")
	require.GreaterOrEqual(t, i, 0, "README has the sample output block")
	block := s[i+len("```text\n"):]
	block = block[:strings.Index(block, "```")]
	wd, err := os.Getwd()
	require.NoError(t, err)
	require.NoError(t, os.Chdir("../.."))
	defer func() { require.NoError(t, os.Chdir(wd)) }()
	out, _, code := run(t, "", "check", "--color", "never", "examples/")
	require.Equal(t, 1, code)
	require.Equal(t, block, out, "README's sample output is out of date: paste the output of `go run ./cmd/hpguard check examples/`")
}

// TestCheckInputs: each path on its own, links followed, encodings kubectl reads, and empty input
// as an error unless --allow-empty, through the command.
func TestCheckInputs(t *testing.T) {
	dir := t.TempDir()
	pod, err := os.ReadFile("testdata/check/workloads.yaml")
	require.NoError(t, err)
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o700))
		require.NoError(t, os.WriteFile(p, data, 0o600))
		return p
	}
	encode := func(e unicode.Endianness) []byte {
		b, err := unicode.UTF16(e, unicode.UseBOM).NewEncoder().Bytes(pod)
		require.NoError(t, err)
		return b
	}
	utf8File := write("utf8/w.yaml", pod)
	write("le/w.yaml", encode(unicode.LittleEndian))
	write("be/w.yaml", encode(unicode.BigEndian))
	write("latin1/w.yaml", append([]byte("# r\xe9sum\xe9 in Latin-1\n"), pod...))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "empty"), 0o700))
	link := filepath.Join(dir, "link")
	require.NoError(t, os.Symlink(filepath.Join(dir, "utf8"), link))
	missing := filepath.Join(dir, "missing.yaml")

	// The UTF-8 file's JSON report, with the file name to replace.
	want, _, code := run(t, "", "check", "-o", "json", utf8File)
	require.Equal(t, 1, code)
	for _, tt := range []struct{ name, path string }{
		{"link to a directory", link}, {"UTF-16LE", filepath.Join(dir, "le")}, {"UTF-16BE", filepath.Join(dir, "be")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := run(t, "", "check", "-o", "json", tt.path)
			require.Equal(t, 1, code, errOut)
			require.Equal(t, strings.ReplaceAll(want, utf8File, filepath.Join(tt.path, "w.yaml")), out, "same documents, lines and findings as UTF-8")
		})
	}
	t.Run("invalid UTF-8 in a comment", func(t *testing.T) {
		out, errOut, code := run(t, "", "check", "-o", "json", filepath.Join(dir, "latin1"))
		require.Equal(t, 1, code, errOut)
		var got, base report.Report
		require.NoError(t, json.Unmarshal([]byte(out), &got))
		require.NoError(t, json.Unmarshal([]byte(want), &base))
		require.Equal(t, base.Summary, got.Summary)
		require.Equal(t, base.Results[0].Line+1, got.Results[0].Line, "one comment line more")
	})

	tests := []struct {
		name     string
		args     []string
		stdin    string
		code     int
		contains []string // in stdout
		stderr   string
	}{
		{"missing path among good ones", []string{"check", utf8File, missing, link}, "", 2,
			[]string{missing + " (document 0)\n  ERROR " + missing + ": cannot read: no such file or directory", "w.yaml:2 DaemonSet kube-system/agent", "link/w.yaml:2 DaemonSet"}, ""},
		{"empty stdin", []string{"check", "-"}, "", 2, []string{"<stdin> is empty (0 bytes): nothing was checked", "set -o pipefail", "--allow-empty"}, ""},
		{"empty stdin, JSON report", []string{"check", "-o", "json", "-"}, "", 2, []string{`"status": "error"`, "<stdin> is empty"},
			"no document to check in <stdin>: see the report; pass --allow-empty if that is expected"},
		{"empty stdin allowed", []string{"check", "--allow-empty", "-"}, "", 0, []string{"0 documents in 1 file"}, ""},
		{"directory without manifests", []string{"check", filepath.Join(dir, "empty")}, "", 2, []string{"holds no file named *.json, *.yaml, *.yml"}, ""},
		{"directory without manifests allowed", []string{"check", "--allow-empty", filepath.Join(dir, "empty")}, "", 0, []string{"0 documents in 0 files"}, ""},
		{"UTF-32 refused", []string{"check", "-"}, "\xff\xfe\x00\x00a\x00\x00\x00", 2, []string{"UTF-32 text"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := run(t, tt.stdin, tt.args...)
			require.Equal(t, tt.code, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
			for _, c := range tt.contains {
				require.Contains(t, out, c)
			}
			require.Equal(t, tt.stderr, errOut)
		})
	}
}

// TestCheckReaderErrorsSameForEveryEngine: what kubectl refuses is refused by the reader, so every
// engine reports it identically (exit 2, same error text); what kubectl accepts (an integer beyond
// int64, 1e400 in YAML, where it is a string) every engine checks.
func TestCheckReaderErrorsSameForEveryEngine(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: runs without -short (make test)")
	}
	dir := t.TempDir()
	const head = `{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},` + "\n"
	const spec = `"containers": [{"name": "c", "image": "i", "securityContext": {"windowsOptions": {"hostProcess": true}}}]`
	refused := map[string]string{
		"overflow.json":  head + `"spec": {"terminationGracePeriodSeconds": 1e400, ` + spec + `}}`,
		"negative.json":  head + `"spec": {` + spec + `,` + "\n" + `"activeDeadlineSeconds": -1e999}}`,
		"utf16-nul.yaml": "a\x00p\x00i\x00",
	}
	accepted := map[string]string{
		"huge-int.json": head + `"spec": {"terminationGracePeriodSeconds": 99999999999999999999, ` + spec + `}}`,
		"yaml-1e400.yaml": "apiVersion: v1\nkind: Pod\nmetadata: {name: p, labels: {x: 1e400}}\nspec:\n  terminationGracePeriodSeconds: 99999999999999999999\n" +
			"  containers: [{name: c, image: i, securityContext: {windowsOptions: {hostProcess: true}}}]\n",
	}
	wantErr := map[string]string{
		"overflow.json": "overflow.json:2: spec.terminationGracePeriodSeconds: number 1e400 is out of range: kubectl cannot decode it as a float64 " +
			"and refuses the document; write a number within ±1.8e308, or quote it to make it a string",
		"negative.json": "negative.json:3: spec.activeDeadlineSeconds: number -1e999 is out of range: kubectl cannot decode it as a float64 " +
			"and refuses the document; write a number within ±1.8e308, or quote it to make it a string",
		"utf16-nul.yaml": "utf16-nul.yaml:1: binary file: NUL byte on line 1",
	}
	for name, content := range refused {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600))
		var first string
		for _, eng := range engine.Names() {
			out, errOut, code := run(t, "", "check", "-o", "json", "--engine", eng, filepath.Join(dir, name))
			require.Equal(t, 2, code, "%s with %s: %s", name, eng, errOut)
			var rep report.Report
			require.NoError(t, json.Unmarshal([]byte(out), &rep))
			require.Len(t, rep.Results, 1)
			require.Equal(t, report.StatusError, rep.Results[0].Status)
			msg := strings.ReplaceAll(rep.Results[0].Error, dir+string(filepath.Separator), "")
			require.True(t, strings.HasPrefix(msg, wantErr[name]), "%s with %s: %s", name, eng, msg)
			if first == "" {
				first = out
			}
			require.Equal(t, first, out, "%s: %s reports it differently from opa", name, eng)
		}
	}
	for name, content := range accepted {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600))
		var first string
		for _, eng := range engine.Names() {
			out, errOut, code := run(t, "", "check", "-o", "json", "--engine", eng, filepath.Join(dir, name))
			require.Equal(t, 1, code, "%s with %s: %s", name, eng, errOut)
			var rep report.Report
			require.NoError(t, json.Unmarshal([]byte(out), &rep))
			require.Equal(t, 1, rep.Summary.Checked, "%s with %s", name, eng)
			if first == "" {
				first = out
			}
			require.Equal(t, first, out, "%s: %s and opa disagree", name, eng)
		}
	}
}

// TestCheckReportFiles: --report writes further formats from the same run, and nothing when the run
// does not complete.
func TestCheckReportFiles(t *testing.T) {
	dir := t.TempDir()
	sarifFile, jsonFile := filepath.Join(dir, "r.sarif"), filepath.Join(dir, "r.json")
	out, errOut, code := run(t, "", "check", "-o", "github", "--report", "sarif="+sarifFile, "--report", "json="+jsonFile, "../../examples/kube-proxy.yaml")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "::warning file=")
	var doc map[string]any
	b, err := os.ReadFile(jsonFile)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &doc))
	require.EqualValues(t, 1, doc["summary"].(map[string]any)["warn"], "the JSON report is the same run's")
	b, err = os.ReadFile(sarifFile)
	require.NoError(t, err)
	require.Contains(t, string(b), `"version": "2.1.0"`)
	st, err := os.Stat(sarifFile)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o644), st.Mode().Perm())

	other := filepath.Join(dir, "other.sarif")
	_, errOut, code = run(t, "", "check", "--report", "sarif", "../../examples/kube-proxy.yaml")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "want FORMAT=FILE")
	_, errOut, code = run(t, "", "check", "--report", "xml="+other, "../../examples/kube-proxy.yaml")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "xml")
	require.NoFileExists(t, other)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 2, "no temporary files are left")
}

// TestCheckStreamedEqualsWhole checks that the formats written as results come (every format but
// SARIF and JUnit) give the bytes of the same report written whole: a run with a --report in
// SARIF keeps every result and writes each format at the end.
func TestCheckStreamedEqualsWhole(t *testing.T) {
	dir := t.TempDir()
	inputs := []string{"../../examples", "testdata/check"}
	for _, format := range []string{"text", "json", "tap", "github"} {
		t.Run(format, func(t *testing.T) {
			file := filepath.Join(dir, format+".out")
			streamed, errOut, code := run(t, "", append([]string{"check", "-o", format, "--report", format + "=" + file}, inputs...)...)
			require.Equal(t, 2, code, errOut)
			whole, errOut, code2 := run(t, "", append([]string{"check", "-o", format, "--report", "sarif=" + filepath.Join(dir, format+".sarif")}, inputs...)...)
			require.Equal(t, code, code2, errOut)
			require.Equal(t, whole, streamed)
			b, err := os.ReadFile(file)
			require.NoError(t, err)
			require.Equal(t, whole, string(b), "the streamed --report file")
			require.Greater(t, strings.Count(whole, "\n"), 20)
		})
	}
}
