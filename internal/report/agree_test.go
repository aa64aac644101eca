package report

import (
	"encoding/json"
	"encoding/xml"
	"strings"
	"testing"
)

// verdictReport is one document with the given findings.
func verdictReport(findings ...Finding) *Report {
	r := &Report{Version: 1, Profile: "hostprocess", Results: []Result{{
		File: "a.yaml", Line: 1, APIVersion: "apps/v1", Kind: "DaemonSet", Namespace: "ns", Name: "ds",
		Status: StatusChecked, Findings: findings,
	}}}
	r.Summary = Summarize(r.Results, 1)
	return r
}

var (
	denyFinding = Finding{Rule: "host-network-required", Severity: SeverityDeny, Field: "spec.template.spec.hostNetwork", Line: 9, Message: "set hostNetwork"}
	warnFinding = Finding{Rule: "resource-limits-set", Severity: SeverityWarn, Field: "spec.template.spec.containers[0].resources", Line: 12, Message: "set limits"}
	suppressed  = Finding{Rule: "host-network-required", Severity: SeverityDeny, Field: "spec.template.spec.hostNetwork", Line: 9, Message: "set hostNetwork",
		Status: FindingSuppressed, Suppression: &Suppression{Reason: "the CNI needs its own network", Annotation: "hpguard.io/ignore-host-network-required"}}
)

// TestFormatsAgreeWithExitStatus: a finding fails a test in JUnit and TAP, and is an ::error
// annotation, exactly when it fails the run; a warn finding that does not fail the run is still
// visible; a suppressed finding never fails and carries its reason in every format.
func TestFormatsAgreeWithExitStatus(t *testing.T) {
	cases := []struct {
		name     string
		findings []Finding
		failOn   string
		fails    bool   // the run fails (exit 1)
		junit    string // "failure", "pass" or "skipped"
		tap      string // the test point line's start and directive
		github   string // the annotation command, "" for none
	}{
		{"deny", []Finding{denyFinding}, "", true, "failure", "not ok 1 - ", "::error "},
		{"warn", []Finding{warnFinding}, "", false, "pass", "ok 1 - ", "::warning "},
		{"warn with --fail-on warn", []Finding{warnFinding}, SeverityWarn, true, "failure", "not ok 1 - ", "::error "},
		{"suppressed", []Finding{suppressed}, "", false, "skipped", "ok 1 - ", ""},
		{"suppressed with --fail-on warn", []Finding{suppressed}, SeverityWarn, false, "skipped", "ok 1 - ", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep := verdictReport(c.findings...)
			if got := rep.Summary.Deny > 0 || (c.failOn == SeverityWarn && rep.Summary.Warn > 0); got != c.fails {
				t.Fatalf("summary %+v: fails = %v, want %v", rep.Summary, got, c.fails)
			}
			opts := Options{FailOn: c.failOn, Rules: testRules()}
			isSuppressed := c.findings[0].Suppressed()

			// JUnit
			var doc junitIn
			if err := xml.Unmarshal(render(t, "junit", rep, opts), &doc); err != nil {
				t.Fatal(err)
			}
			tc := doc.Suites[0].Cases[0]
			switch c.junit {
			case "failure":
				if len(tc.Failures) != 1 || doc.Failures != 1 || tc.Skipped != nil {
					t.Errorf("junit: want one failure, got %+v", tc)
				}
			case "pass":
				if len(tc.Failures) != 0 || doc.Failures != 0 || tc.Skipped != nil || !strings.Contains(tc.SystemOut, c.findings[0].Message) {
					t.Errorf("junit: want a passing testcase listing the warning in system-out, got %+v", tc)
				}
			case "skipped":
				if len(tc.Failures) != 0 || doc.Skipped != 1 || tc.Skipped == nil || !strings.Contains(tc.Skipped.Message, "the CNI needs its own network") {
					t.Errorf("junit: want a skipped testcase with the reason, got %+v", tc)
				}
			}

			// TAP
			tap := string(render(t, "tap", rep, opts))
			lines := strings.Split(tap, "\n")
			if !strings.HasPrefix(lines[1], c.tap) {
				t.Errorf("tap: test point %q, want %q...", lines[1], c.tap)
			}
			if isSuppressed != strings.Contains(lines[1], "# SKIP suppressed: host-network-required: the CNI needs its own network") {
				t.Errorf("tap: SKIP directive with the reason only when suppressed: %q", lines[1])
			}
			if warnsVisible := c.junit == "pass"; warnsVisible != strings.Contains(tap, "\n# warn: resource-limits-set: set limits\n") {
				t.Errorf("tap: a warn that does not fail the run is a # warn: line:\n%s", tap)
			}

			// GitHub annotations
			gh := string(render(t, "github", rep, opts))
			if c.github == "" {
				if strings.Contains(gh, "::error") || strings.Contains(gh, "::warning") {
					t.Errorf("github: suppressed findings get no annotation:\n%s", gh)
				}
			} else if !strings.HasPrefix(gh, c.github) {
				t.Errorf("github: want %q, got:\n%s", c.github, gh)
			}

			// Text
			text := string(render(t, "text", rep, opts))
			if isSuppressed != strings.Contains(text, "SUPPRESSED deny host-network-required") ||
				isSuppressed != strings.Contains(text, "reason: the CNI needs its own network (annotation hpguard.io/ignore-host-network-required)") ||
				isSuppressed != strings.HasSuffix(text, ", 1 suppressed\n") {
				t.Errorf("text:\n%s", text)
			}

			// JSON: additive fields only.
			var js struct {
				Summary map[string]int
				Results []struct{ Findings []map[string]any }
			}
			if err := json.Unmarshal(render(t, "json", rep, opts), &js); err != nil {
				t.Fatal(err)
			}
			f := js.Results[0].Findings[0]
			if want := map[bool]int{true: 1, false: 0}[isSuppressed]; js.Summary["suppressed"] != want {
				t.Errorf("json: summary.suppressed = %d, want %d", js.Summary["suppressed"], want)
			}
			if isSuppressed {
				sup, _ := f["suppression"].(map[string]any)
				if f["status"] != "suppressed" || sup["reason"] != "the CNI needs its own network" || sup["annotation"] != "hpguard.io/ignore-host-network-required" {
					t.Errorf("json: suppressed finding = %v", f)
				}
			} else if _, has := f["status"]; has {
				t.Errorf("json: an open finding has no status: %v", f)
			}

			// SARIF: native in-source suppressions.
			var sarif struct {
				Runs []struct {
					Results []struct {
						Level        string
						Suppressions []struct{ Kind, Status, Justification string }
					}
				}
			}
			if err := json.Unmarshal(render(t, "sarif", rep, opts), &sarif); err != nil {
				t.Fatal(err)
			}
			if err := validateSARIF(compileSARIFSchema(t), render(t, "sarif", rep, opts)); err != nil {
				t.Errorf("sarif: not valid SARIF 2.1.0: %v", err)
			}
			res := sarif.Runs[0].Results[0]
			if isSuppressed {
				if len(res.Suppressions) != 1 || res.Suppressions[0].Kind != "inSource" || res.Suppressions[0].Justification != "the CNI needs its own network" {
					t.Errorf("sarif: suppressions = %+v", res.Suppressions)
				}
			} else if len(res.Suppressions) != 0 {
				t.Errorf("sarif: an open result has no suppressions: %+v", res.Suppressions)
			}
		})
	}
}
