// Package report holds the result of a check run (the stable JSON schema) and the
// reporters that render it in each output format.
package report

import (
	"fmt"
	"strconv"
	"strings"
)

// Status is what became of one input document.
type Status string

// Document statuses: every input document ends in exactly one of them.
const (
	// StatusChecked means the document is a workload and was evaluated.
	StatusChecked Status = "checked"
	// StatusSkipped means the document is not one of the nine workload kinds.
	StatusSkipped Status = "skipped"
	// StatusError means the document could not be read or has the wrong shape.
	StatusError Status = "error"
)

// Severities of a finding.
const (
	SeverityDeny = "deny"
	SeverityWarn = "warn"
)

// Finding is one rule violation in one document.
type Finding struct {
	// Rule is the rule id, e.g. "host-network-required".
	Rule string `json:"rule"`
	// Severity is "deny" or "warn" under the profile that was evaluated.
	Severity string `json:"severity"`
	// Message says what is wrong, where, and what to do.
	Message string `json:"message"`
	// Field is the field path with its workload prefix, e.g. "spec.template.spec.hostNetwork".
	Field string `json:"field"`
	// Container is the container the finding applies to; empty for pod-level findings.
	Container string `json:"container,omitempty"`
	// Line is the 1-based line of Field (or of its nearest existing parent) in the file; 0 when unknown.
	Line int `json:"line,omitempty"`
	// Status is FindingSuppressed when an annotation with a reason suppresses the finding; empty
	// (omitted) for an open finding.
	Status string `json:"status,omitempty"`
	// Suppression is the annotation that suppresses the finding, when Status is FindingSuppressed.
	Suppression *Suppression `json:"suppression,omitempty"`
}

// FindingSuppressed is the Status of a suppressed finding.
const FindingSuppressed = "suppressed"

// Suppression is why a finding is suppressed: the annotation on the workload or its pod template
// (hpguard.io/ignore-<rule-id>) and its value, the reason.
type Suppression struct {
	Reason     string `json:"reason"`
	Annotation string `json:"annotation"`
}

// Suppressed reports whether the finding is suppressed.
func (f Finding) Suppressed() bool { return f.Status == FindingSuppressed }

// Result is the outcome for one input document.
type Result struct {
	File       string `json:"file"`
	Document   int    `json:"document"`
	Line       int    `json:"line"`
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind,omitempty"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name,omitempty"`
	Status     Status `json:"status"`
	Error      string `json:"error,omitempty"`
	// Reason says why a skipped document was not checked, e.g. "ConfigMap is not a workload".
	Reason   string    `json:"reason,omitempty"`
	Findings []Finding `json:"findings"`
}

// Summary counts files, documents by status, and findings by severity.
type Summary struct {
	Files     int `json:"files"`
	Documents int `json:"documents"`
	Checked   int `json:"checked"`
	Skipped   int `json:"skipped"`
	Errors    int `json:"errors"`
	Deny      int `json:"deny"`
	Warn      int `json:"warn"`
	// Suppressed counts the suppressed findings; Deny and Warn count the others.
	Suppressed int `json:"suppressed"`
}

// Report is the whole outcome of a check run; its JSON form is the stable schema (version 1).
type Report struct {
	Version int      `json:"version"`
	Profile string   `json:"profile"`
	Results []Result `json:"results"`
	Summary Summary  `json:"summary"`
	// NothingChecked is set when the run found no Kubernetes object to check and its results
	// say why (an empty input is not a pass).
	NothingChecked bool `json:"-"`
}

// Rule describes a rule for reporters that document rules (SARIF, JUnit).
type Rule struct {
	ID          string
	Title       string
	Description string
	Remediation string
	Severity    string // severity under the evaluated profile
	Sources     []string
	HelpURI     string
}

// Summarize counts the documents in results by status and their findings by
// severity. files is the number of input files, which the results alone cannot
// tell (a file may hold no documents).
func Summarize(results []Result, files int) Summary {
	s := Summary{Files: files}
	for _, r := range results {
		s.Add(r)
	}
	return s
}

// Add counts one document and its findings.
func (s *Summary) Add(r Result) {
	s.Documents++
	switch r.Status {
	case StatusChecked:
		s.Checked++
	case StatusSkipped:
		s.Skipped++
	case StatusError:
		s.Errors++
	}
	for _, f := range r.Findings {
		if f.Suppressed() {
			s.Suppressed++
			continue
		}
		switch f.Severity {
		case SeverityDeny:
			s.Deny++
		case SeverityWarn:
			s.Warn++
		}
	}
}

// String renders the summary as one line, e.g.
// "12 documents in 7 files: 9 checked, 2 skipped, 1 error; 5 deny, 2 warn", followed by
// ", 3 suppressed" when findings are suppressed.
func (s Summary) String() string {
	return s.format(func(_, text string) string { return text })
}

// format renders the summary line, passing the finding counts through
// decorate with their severity.
func (s Summary) format(decorate func(severity, text string) string) string {
	line := fmt.Sprintf("%s in %s: %d checked, %d skipped, %s; %s, %s",
		plural(s.Documents, "document"), plural(s.Files, "file"),
		s.Checked, s.Skipped, plural(s.Errors, "error"),
		decorate(SeverityDeny, fmt.Sprintf("%d deny", s.Deny)),
		decorate(SeverityWarn, fmt.Sprintf("%d warn", s.Warn)))
	if s.Suppressed > 0 {
		line += fmt.Sprintf(", %d suppressed", s.Suppressed)
	}
	return line
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// ObjectName is "namespace/name", "name", or "" when the document has no name.
func (r Result) ObjectName() string {
	switch {
	case r.Name == "":
		return ""
	case r.Namespace == "":
		return r.Name
	default:
		return r.Namespace + "/" + r.Name
	}
}

// Label identifies the document's object as "Kind namespace/name"; it is ""
// when the document has neither kind nor name.
func (r Result) Label() string {
	return strings.TrimSpace(r.Kind + " " + r.ObjectName())
}

// Position is "file:line", or just the file when the line is unknown.
func (r Result) Position() string {
	return position(r.File, r.Line)
}

// EffectiveLine is the line a finding points at: its own line when known,
// else the line of its document.
func (f Finding) EffectiveLine(r Result) int {
	if f.Line > 0 {
		return f.Line
	}
	return r.Line
}

func position(file string, line int) string {
	if line > 0 {
		return file + ":" + strconv.Itoa(line)
	}
	return file
}

// describe is the document's position and label, e.g.
// "examples/kube-proxy.yaml:1 DaemonSet kube-system/kube-proxy"; documents
// without kind and name are named by their index in the file.
func describe(r Result) string {
	label := r.Label()
	if label == "" {
		label = fmt.Sprintf("(document %d)", r.Document)
	}
	return r.Position() + " " + label
}

// skipReason says why a skipped document was not evaluated.
func skipReason(r Result) string {
	if r.Reason != "" {
		return r.Reason
	}
	return NotAWorkload(r.Kind)
}

// NotAWorkload is the reason a document of the given kind is skipped.
func NotAWorkload(kind string) string {
	if kind == "" {
		return "not a workload"
	}
	return kind + " is not a workload"
}

// fails reports whether an open finding fails the run under failOn ("" is deny): a deny finding
// always, a warn finding with --fail-on warn; a suppressed finding never.
func fails(f Finding, failOn string) bool {
	if f.Suppressed() {
		return false
	}
	return f.Severity == SeverityDeny || (f.Severity == SeverityWarn && failOn == SeverityWarn)
}

// suppressionText is "reason (annotation NAME)" for a suppressed finding.
func suppressionText(f Finding) string {
	if f.Suppression == nil {
		return ""
	}
	return f.Suppression.Reason + " (annotation " + f.Suppression.Annotation + ")"
}

// fileGroup is the results of one input file, in input order.
type fileGroup struct {
	File    string
	Results []Result
}

// groupByFile groups results by file, files in order of first appearance.
func groupByFile(results []Result) []fileGroup {
	var groups []fileGroup
	index := map[string]int{}
	for _, r := range results {
		i, ok := index[r.File]
		if !ok {
			i = len(groups)
			index[r.File] = i
			groups = append(groups, fileGroup{File: r.File})
		}
		groups[i].Results = append(groups[i].Results, r)
	}
	return groups
}

// findRule returns the rule with the given id from rules.
func findRule(rules []Rule, id string) (Rule, bool) {
	for _, rule := range rules {
		if rule.ID == id {
			return rule, true
		}
	}
	return Rule{}, false
}
