package report

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// sarifSchemaFile is the OASIS SARIF 2.1.0 (errata 01) JSON schema, copied
// verbatim from the copy that github.com/owenrumney/go-sarif/v3 embeds
// (pkg/report/v210/sarif/schema.go); TestSARIFSchemaFileIsGoSarifCopy keeps
// them identical.
const sarifSchemaFile = "testdata/sarif-schema-2.1.0.json"

func compileSARIFSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(sarifSchemaFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(sarifSchemaURI, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(sarifSchemaURI)
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

func validateSARIF(sch *jsonschema.Schema, out []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(out))
	if err != nil {
		return err
	}
	return sch.Validate(inst)
}

func TestSARIFValidatesAgainstSchema(t *testing.T) {
	sch := compileSARIFSchema(t)
	reports := map[string]*Report{
		"fixture":       testReport(),
		"empty":         {Version: 1},
		"absolute path": {Version: 1, Results: []Result{{File: "/tmp/x y/pod.yaml", Document: 1, Status: StatusError, Error: "unreadable"}}},
	}
	for name, r := range reports {
		for _, opts := range []Options{testOptions(), {}} {
			if err := validateSARIF(sch, render(t, "sarif", r, opts)); err != nil {
				t.Errorf("%s (%d rules): SARIF does not validate: %v", name, len(opts.Rules), err)
			}
		}
	}
}

// TestSARIFSchemaRejectsInvalid makes sure the validation above can fail.
func TestSARIFSchemaRejectsInvalid(t *testing.T) {
	sch := compileSARIFSchema(t)
	out := render(t, "sarif", testReport(), testOptions())
	for _, bad := range []struct{ from, to string }{
		{`"level": "error"`, `"level": "fatal"`},
		{`"startLine": 14`, `"startLine": 0`},
		{`"version": "2.1.0"`, `"version": "2.2"`},
	} {
		broken := bytes.Replace(out, []byte(bad.from), []byte(bad.to), 1)
		if bytes.Equal(broken, out) {
			t.Fatalf("fixture output has no %s", bad.from)
		}
		if err := validateSARIF(sch, broken); err == nil {
			t.Errorf("SARIF with %s validated", bad.to)
		}
	}
}

// sarifLog is the part of a SARIF log the tests look at.
type sarifLog struct {
	Schema  string `json:"$schema"`
	Version string `json:"version"`
	Runs    []struct {
		Tool struct {
			Driver struct {
				Name           string `json:"name"`
				Version        string `json:"version"`
				InformationURI string `json:"informationUri"`
				Rules          []struct {
					ID               string `json:"id"`
					Name             string `json:"name"`
					ShortDescription struct{ Text string }
					FullDescription  struct{ Text string }
					Help             struct{ Text string }
					HelpURI          string `json:"helpUri"`
					Default          *struct {
						Level string `json:"level"`
					} `json:"defaultConfiguration"`
				} `json:"rules"`
			} `json:"driver"`
		} `json:"tool"`
		Results []struct {
			RuleID    string `json:"ruleId"`
			RuleIndex int    `json:"ruleIndex"`
			Level     string `json:"level"`
			Message   struct{ Text string }
			Locations []struct {
				PhysicalLocation struct {
					ArtifactLocation struct {
						URI string `json:"uri"`
					} `json:"artifactLocation"`
					Region *struct {
						StartLine int `json:"startLine"`
					} `json:"region"`
				} `json:"physicalLocation"`
				LogicalLocations []struct {
					FullyQualifiedName string `json:"fullyQualifiedName"`
				} `json:"logicalLocations"`
			} `json:"locations"`
		} `json:"results"`
	} `json:"runs"`
}

func decodeSARIF(t *testing.T, out []byte) sarifLog {
	t.Helper()
	var log sarifLog
	if err := json.Unmarshal(out, &log); err != nil {
		t.Fatalf("SARIF is not JSON: %v", err)
	}
	if len(log.Runs) != 1 {
		t.Fatalf("got %d runs, want 1", len(log.Runs))
	}
	return log
}

func TestSARIFContent(t *testing.T) {
	log := decodeSARIF(t, render(t, "sarif", testReport(), testOptions()))
	if log.Version != "2.1.0" || log.Schema != sarifSchemaURI {
		t.Errorf("version %q, $schema %q", log.Version, log.Schema)
	}
	run := log.Runs[0]
	d := run.Tool.Driver
	if d.Name != "hpguard" || d.Version != "1.4.0" || d.InformationURI != "https://github.com/hpguard/hpguard" {
		t.Errorf("driver = %q %q %q", d.Name, d.Version, d.InformationURI)
	}

	var ids []string
	for _, r := range d.Rules {
		ids = append(ids, r.ID)
	}
	if got, want := strings.Join(ids, " "), "host-network-required run-as-least-privilege image-pinned all-containers-hostprocess input-error"; got != want {
		t.Fatalf("rules = %s, want %s", got, want)
	}
	r0 := d.Rules[0]
	if r0.Name != "HostNetworkRequired" || r0.ShortDescription.Text != testRules()[0].Title ||
		r0.FullDescription.Text != testRules()[0].Description || r0.HelpURI != testRules()[0].HelpURI ||
		r0.Default == nil || r0.Default.Level != "error" {
		t.Errorf("rule 0 = %+v", r0)
	}
	if want := "Set hostNetwork: true in the pod spec.\n\nSources:\n- " + testRules()[0].Sources[0]; r0.Help.Text != want {
		t.Errorf("rule 0 help = %q, want %q", r0.Help.Text, want)
	}
	if lvl := d.Rules[2].Default; lvl == nil || lvl.Level != "warning" {
		t.Errorf("warn rule default configuration = %+v, want level warning", lvl)
	}

	type res struct {
		rule, level, uri, fqn string
		line, index           int
	}
	var got []res
	for _, r := range run.Results {
		if len(r.Locations) != 1 {
			t.Fatalf("result %s has %d locations", r.RuleID, len(r.Locations))
		}
		loc := r.Locations[0]
		x := res{rule: r.RuleID, level: r.Level, uri: loc.PhysicalLocation.ArtifactLocation.URI, index: r.RuleIndex}
		if loc.PhysicalLocation.Region != nil {
			x.line = loc.PhysicalLocation.Region.StartLine
		}
		if len(loc.LogicalLocations) > 0 {
			x.fqn = loc.LogicalLocations[0].FullyQualifiedName
		}
		got = append(got, x)
	}
	want := []res{
		{"host-network-required", "error", fileKubeProxy, "DaemonSet/kube-system/kube-proxy:spec.template.spec.hostNetwork", 14, 0},
		{"run-as-least-privilege", "error", fileKubeProxy, "DaemonSet/kube-system/kube-proxy:spec.template.spec.containers[0].securityContext.windowsOptions.runAsUserName", 27, 1},
		{"image-pinned", "warning", fileKubeProxy, "DaemonSet/kube-system/kube-proxy:spec.template.spec.containers[0].image", 22, 2},
		{"image-pinned", "warning", fileExporter, "Job/monitoring/collect-etw:spec.template.spec.containers[0].image", 58, 2},
		{"run-as-least-privilege", "error", "manifests/team%20a,b/agent.yaml", "Pod/agent:spec.securityContext.windowsOptions.runAsUserName", 1, 1},
		{"input-error", "error", "manifests/team%20a,b/agent.yaml", "Deployment/team-a/broken", 19, 4},
		{"input-error", "error", "manifests/team%20a,b/agent.yaml", "", 40, 4},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d results, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("result %d = %+v\n            want %+v", i, got[i], want[i])
		}
	}
	if msg := run.Results[4].Message.Text; msg != oddMessage {
		t.Errorf("message = %q, want %q", msg, oddMessage)
	}
}

func TestSARIFInputErrorRuleOnlyWhenUsed(t *testing.T) {
	r := testReport()
	r.Results = r.Results[:5] // drop the two error documents
	for _, rule := range decodeSARIF(t, render(t, "sarif", r, testOptions())).Runs[0].Tool.Driver.Rules {
		if rule.ID == inputErrorRule {
			t.Errorf("rule %s present without error documents", inputErrorRule)
		}
	}
}

func TestSARIFArtifactURI(t *testing.T) {
	cases := map[string]string{
		"examples/a.yaml":   "examples/a.yaml",
		"./examples/a.yaml": "examples/a.yaml",
		"dir with space/a":  "dir%20with%20space/a",
		"a:b/c.yaml":        "./a:b/c.yaml",
		"/abs/path/a.yaml":  "file:///abs/path/a.yaml",
		"100%.yaml":         "100%25.yaml",
	}
	for in, want := range cases {
		if got := sarifArtifactURI(in); got != want {
			t.Errorf("sarifArtifactURI(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestSARIFSchemaFileIsGoSarifCopy checks that the schema under testdata is
// byte for byte the one go-sarif embeds, so nobody edits it to make a test pass.
func TestSARIFSchemaFileIsGoSarifCopy(t *testing.T) {
	const mod = "github.com/owenrumney/go-sarif/v3"
	dir, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", mod).Output()
	if err != nil {
		t.Skipf("cannot locate %s: %v", mod, err)
	}
	src, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(dir)), "pkg", "report", "v210", "sarif", "schema.go"))
	if err != nil {
		t.Skipf("go-sarif source not available: %v", err)
	}
	m := regexp.MustCompile("(?s)const schema = `(.*)`").FindSubmatch(src)
	if m == nil {
		t.Fatal("schema constant not found in go-sarif's schema.go")
	}
	ours, err := os.ReadFile(sarifSchemaFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ours, m[1]) {
		t.Errorf("%s differs from the schema embedded in %s", sarifSchemaFile, mod)
	}
}
