package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
)

func init() { register("junit", junitReporter{}) }

// junitReporter writes JUnit XML: one testsuite per file, one testcase per
// document, a <failure> per finding that fails the run (its type is the
// severity), an <error> for a document that could not be evaluated and
// <skipped> for one that is not a workload. A warn finding that does not fail
// the run (without --fail-on warn) leaves the testcase passing and is listed
// in its <system-out>; a testcase whose findings are all suppressed is
// <skipped> with the reasons, and suppressed findings next to open ones are
// listed in <system-out>.
//
// The types of github.com/jstemmer/go-junit-report/v2/junit allow only one
// failure per testcase, so the report uses its own.
type junitReporter struct{}

type junitTestsuites struct {
	XMLName  xml.Name         `xml:"testsuites"`
	Name     string           `xml:"name,attr"`
	Tests    int              `xml:"tests,attr"`
	Failures int              `xml:"failures,attr"`
	Errors   int              `xml:"errors,attr"`
	Skipped  int              `xml:"skipped,attr"`
	Suites   []junitTestsuite `xml:"testsuite"`
}

type junitTestsuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Properties []junitProperty `xml:"properties>property,omitempty"`
	Testcases  []junitTestcase `xml:"testcase"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitTestcase struct {
	Name      string         `xml:"name,attr"`
	Classname string         `xml:"classname,attr"`
	File      string         `xml:"file,attr,omitempty"`
	Line      int            `xml:"line,attr,omitempty"`
	Skipped   *junitResult   `xml:"skipped,omitempty"`
	Error     *junitResult   `xml:"error,omitempty"`
	Failures  []*junitResult `xml:"failure,omitempty"`
	SystemOut *junitText     `xml:"system-out,omitempty"`
}

type junitText struct {
	Text string `xml:",cdata"` // keep it to xmlText
}

type junitResult struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",cdata"` // keep it to xmlText
}

func (junitReporter) Write(w io.Writer, r *Report, opts Options) error {
	doc := junitTestsuites{Name: "hpguard"}
	for _, g := range groupByFile(r.Results) {
		suite := junitTestsuite{Name: g.File}
		if r.Profile != "" {
			suite.Properties = []junitProperty{{Name: "profile", Value: r.Profile}}
		}
		for _, res := range g.Results {
			tc := junitCase(res, opts)
			suite.Tests++
			switch {
			case tc.Error != nil:
				suite.Errors++
			case tc.Skipped != nil:
				suite.Skipped++
			case len(tc.Failures) > 0:
				suite.Failures++
			}
			suite.Testcases = append(suite.Testcases, tc)
		}
		doc.Tests += suite.Tests
		doc.Failures += suite.Failures
		doc.Errors += suite.Errors
		doc.Skipped += suite.Skipped
		doc.Suites = append(doc.Suites, suite)
	}

	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// junitCase is the testcase of one document.
func junitCase(r Result, opts Options) junitTestcase {
	name := fmt.Sprintf("document %d", r.Document)
	if label := r.Label(); label != "" {
		name = fmt.Sprintf("%s (%s)", label, name)
	}
	tc := junitTestcase{Name: name, Classname: r.File, File: r.File, Line: r.Line}
	switch r.Status {
	case StatusError:
		tc.Error = &junitResult{Message: r.Error, Type: "error", Text: xmlText(r.Position() + "\n" + r.Error)}
	case StatusSkipped:
		tc.Skipped = &junitResult{Message: skipReason(r)}
	default:
		var out strings.Builder
		var reasons []string
		open := 0
		for _, f := range r.Findings {
			switch {
			case fails(f, opts.FailOn):
				tc.Failures = append(tc.Failures, &junitResult{
					Message: f.Rule + ": " + f.Message,
					Type:    f.Severity,
					Text:    xmlText(junitFailureText(r, f, opts.Rules)),
				})
				open++
			case f.Suppressed():
				reasons = append(reasons, f.Rule+": "+suppressionText(f))
				out.WriteString(junitFailureText(r, f, opts.Rules) + "\n")
			default:
				open++
				out.WriteString(junitFailureText(r, f, opts.Rules) + "\n")
			}
		}
		if open == 0 && len(reasons) > 0 {
			tc.Skipped = &junitResult{Message: "suppressed: " + strings.Join(reasons, "; ")}
		}
		if out.Len() > 0 {
			tc.SystemOut = &junitText{Text: xmlText(strings.TrimSuffix(out.String(), "\n"))}
		}
	}
	return tc
}

// junitFailureText is the body of a finding's <failure>: where it is, the
// message, and what the rule says to do about it.
func junitFailureText(r Result, f Finding, rules []Rule) string {
	var b strings.Builder
	field := func(k, v string) {
		if v != "" {
			b.WriteString(k + ": " + v + "\n")
		}
	}
	rule, known := findRule(rules, f.Rule)
	title := f.Rule
	if known && rule.Title != "" {
		title += " (" + rule.Title + ")"
	}
	field("rule", title)
	field("severity", f.Severity)
	field("location", position(r.File, f.EffectiveLine(r)))
	field("field", f.Field)
	field("container", f.Container)
	if f.Suppressed() {
		field("suppressed", suppressionText(f))
	}
	b.WriteString("\n" + f.Message + "\n")
	if known {
		if rule.Remediation != "" {
			b.WriteString("\nRemediation: " + rule.Remediation + "\n")
		}
		if rule.HelpURI != "" {
			b.WriteString("Help: " + rule.HelpURI + "\n")
		}
	}
	return b.String()
}

// xmlText replaces the characters XML cannot hold with U+FFFD. encoding/xml
// does so for attributes and character data, but not in CDATA sections.
func xmlText(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t', r == '\n', r == '\r',
			r >= 0x20 && r <= 0xD7FF,
			r >= 0xE000 && r <= 0xFFFD,
			r >= 0x10000 && r <= 0x10FFFF:
			return r
		}
		return '\uFFFD'
	}, s)
}
