package report

import (
	"encoding/xml"
	"strings"
	"testing"
)

// Types to read the JUnit output back, independent of the writer's.
type junitIn struct {
	XMLName  xml.Name `xml:"testsuites"`
	Tests    int      `xml:"tests,attr"`
	Failures int      `xml:"failures,attr"`
	Errors   int      `xml:"errors,attr"`
	Skipped  int      `xml:"skipped,attr"`
	Suites   []struct {
		Name     string `xml:"name,attr"`
		Tests    int    `xml:"tests,attr"`
		Failures int    `xml:"failures,attr"`
		Errors   int    `xml:"errors,attr"`
		Skipped  int    `xml:"skipped,attr"`
		Cases    []struct {
			Name      string `xml:"name,attr"`
			Classname string `xml:"classname,attr"`
			Failures  []struct {
				Message string `xml:"message,attr"`
				Type    string `xml:"type,attr"`
				Text    string `xml:",chardata"`
			} `xml:"failure"`
			Error *struct {
				Message string `xml:"message,attr"`
			} `xml:"error"`
			Skipped *struct {
				Message string `xml:"message,attr"`
			} `xml:"skipped"`
			SystemOut string `xml:"system-out"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

// TestJUnitCounts: with --fail-on warn every finding is a failure; with the default (deny) the
// warn-only document passes (TestFormatsAgreeWithExitStatus covers that case).
func TestJUnitCounts(t *testing.T) {
	opts := testOptions()
	opts.FailOn = SeverityWarn
	out := render(t, "junit", testReport(), opts)
	if !strings.HasPrefix(string(out), xml.Header) {
		t.Errorf("output lacks the XML declaration")
	}
	var doc junitIn
	if err := xml.Unmarshal(out, &doc); err != nil {
		t.Fatalf("output is not XML: %v\n%s", err, out)
	}
	if doc.Tests != 7 || doc.Failures != 3 || doc.Errors != 2 || doc.Skipped != 1 {
		t.Errorf("testsuites tests/failures/errors/skipped = %d/%d/%d/%d, want 7/3/2/1",
			doc.Tests, doc.Failures, doc.Errors, doc.Skipped)
	}
	wantSuites := []struct {
		name                             string
		tests, failures, errors, skipped int
	}{
		{fileKubeProxy, 2, 1, 0, 1},
		{fileExporter, 2, 1, 0, 0},
		{fileTeam, 3, 1, 2, 0},
	}
	if len(doc.Suites) != len(wantSuites) {
		t.Fatalf("got %d testsuites, want %d", len(doc.Suites), len(wantSuites))
	}
	bySeverity := map[string]int{}
	for i, w := range wantSuites {
		s := doc.Suites[i]
		if s.Name != w.name || s.Tests != w.tests || s.Failures != w.failures || s.Errors != w.errors || s.Skipped != w.skipped {
			t.Errorf("suite %d = %s %d/%d/%d/%d, want %s %d/%d/%d/%d", i,
				s.Name, s.Tests, s.Failures, s.Errors, s.Skipped, w.name, w.tests, w.failures, w.errors, w.skipped)
		}
		if len(s.Cases) != s.Tests {
			t.Errorf("suite %s has %d testcases but tests=%d", s.Name, len(s.Cases), s.Tests)
		}
		for _, c := range s.Cases {
			for _, f := range c.Failures {
				bySeverity[f.Type]++
			}
		}
	}
	if bySeverity[SeverityDeny] != 3 || bySeverity[SeverityWarn] != 2 || len(bySeverity) != 2 {
		t.Errorf("failure types = %v, want 3 deny and 2 warn", bySeverity)
	}

	first := doc.Suites[0].Cases[0]
	if first.Name != "DaemonSet kube-system/kube-proxy (document 1)" || first.Classname != fileKubeProxy {
		t.Errorf("first testcase = %q (classname %q)", first.Name, first.Classname)
	}
	if got := doc.Suites[2].Cases[2].Name; got != "document 3" {
		t.Errorf("testcase of an unnamed document = %q, want %q", got, "document 3")
	}
	if got := doc.Suites[2].Cases[0].Failures[0].Text; !strings.Contains(got, oddMessage) {
		t.Errorf("failure text lost the message: %q", got)
	}
	if got := doc.Suites[0].Cases[1].Skipped; got == nil || got.Message != "ConfigMap is not a workload" {
		t.Errorf("skipped document: %+v", got)
	}
}

// TestJUnitHostileText: a message that ends CDATA or holds characters XML
// cannot represent must still give well-formed XML.
func TestJUnitHostileText(t *testing.T) {
	msg := "bad ]]> <tag> & \x1b[31m\x00 end"
	r := &Report{Results: []Result{
		{File: "a.yaml", Document: 1, Line: 1, Kind: "Pod", Name: "p", Status: StatusChecked,
			Findings: []Finding{{Rule: "r", Severity: SeverityDeny, Field: "spec", Message: msg}}},
		{File: "a.yaml", Document: 2, Line: 9, Status: StatusError, Error: msg},
	}}
	out := render(t, "junit", r, Options{})
	var doc junitIn
	if err := xml.Unmarshal(out, &doc); err != nil {
		t.Fatalf("output is not well-formed XML: %v\n%s", err, out)
	}
	want := "bad ]]> <tag> & \uFFFD[31m\uFFFD end"
	f := doc.Suites[0].Cases[0].Failures[0]
	if !strings.Contains(f.Text, want) || f.Message != "r: "+want {
		t.Errorf("failure = %q / %q, want the message %q", f.Message, f.Text, want)
	}
	if e := doc.Suites[0].Cases[1].Error; e == nil || e.Message != want {
		t.Errorf("error = %+v, want message %q", e, want)
	}
}
