package tests

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hpguard/hpguard/internal/report"
)

// diffFinding is the comparable form of one finding: everything but its line (which the shared
// reader derives from the field).
type diffFinding struct {
	Rule, Severity, Field, Container, Message string
}

func (f diffFinding) String() string {
	s := f.Severity + " " + f.Rule + " " + f.Field
	if f.Container != "" {
		s += " [container: " + f.Container + "]"
	}
	return s + fmt.Sprintf(" %q", f.Message)
}

// diffDoc is what one engine made of one document of an input.
type diffDoc struct {
	// Desc names the document in messages: kind, namespace/name and line.
	Desc     string
	Status   report.Status
	Error    string
	Findings []diffFinding // sorted by String
}

// hasDeny reports whether the document has a deny finding.
func (d diffDoc) hasDeny() bool {
	for _, f := range d.Findings {
		if f.Severity == report.SeverityDeny {
			return true
		}
	}
	return false
}

// diffOutcome is what one engine made of one input: its documents in input order.
type diffOutcome struct {
	Docs []diffDoc
}

// exit is the exit status `hpguard check` gives for this input alone (check.ExitCode with the
// default --fail-on deny): 2 with any document in error, 1 with a deny finding, else 0.
func (o diffOutcome) exit() int {
	code := 0
	for _, d := range o.Docs {
		if d.Status == report.StatusError {
			return 2
		}
		if d.hasDeny() {
			code = 1
		}
	}
	return code
}

// failClosedViolations checks an engine that cannot match the reference on an input by
// construction: each document on which it disagrees must be in error or have a deny finding, and
// the input must fail the run (exit status not 0). It returns what breaks that, one line each.
func failClosedViolations(ref, got diffOutcome) []string {
	var out []string
	if got.exit() == 0 {
		out = append(out, "exit status 0: a clean pass")
	}
	if len(ref.Docs) != len(got.Docs) {
		out = append(out, fmt.Sprintf("documents: %d, reference %d", len(got.Docs), len(ref.Docs)))
		return out
	}
	for i, d := range got.Docs {
		if len(compareDocs("", "a", ref.Docs[i], "b", d)) == 0 {
			continue
		}
		if d.Status != report.StatusError && !d.hasDeny() {
			out = append(out, fmt.Sprintf("%s: status %s without a deny finding", d.Desc, d.Status))
		}
	}
	return out
}

// diffOutcomeOf converts the results of one input (in report order).
func diffOutcomeOf(results []report.Result) diffOutcome {
	var o diffOutcome
	for _, r := range results {
		d := diffDoc{Status: r.Status, Error: r.Error, Desc: describeResult(r)}
		for _, f := range r.Findings {
			d.Findings = append(d.Findings, diffFinding{Rule: f.Rule, Severity: f.Severity, Field: f.Field, Container: f.Container, Message: f.Message})
		}
		sortDiffFindings(d.Findings)
		o.Docs = append(o.Docs, d)
	}
	return o
}

func describeResult(r report.Result) string {
	s := fmt.Sprintf("document %d, line %d", r.Document, r.Line)
	if r.Kind != "" {
		name := r.Name
		if r.Namespace != "" {
			name = r.Namespace + "/" + name
		}
		s += fmt.Sprintf(" (%s %s)", r.Kind, name)
	}
	return s
}

func sortDiffFindings(fs []diffFinding) {
	sort.Slice(fs, func(i, j int) bool { return fs[i].String() < fs[j].String() })
}

// compareOutcomes returns the differences between two engines' outcomes for one input, one line
// each, naming the engines (a and b) and the document; none when they agree.
func compareOutcomes(a string, oa diffOutcome, b string, ob diffOutcome) []string {
	var out []string
	if ea, eb := oa.exit(), ob.exit(); ea != eb {
		out = append(out, fmt.Sprintf("exit status: %s %d, %s %d", a, ea, b, eb))
	}
	if len(oa.Docs) != len(ob.Docs) {
		out = append(out, fmt.Sprintf("documents: %s %d, %s %d", a, len(oa.Docs), b, len(ob.Docs)))
	}
	for i := 0; i < min(len(oa.Docs), len(ob.Docs)); i++ {
		da, db := oa.Docs[i], ob.Docs[i]
		out = append(out, compareDocs(da.Desc, a, da, b, db)...)
	}
	return out
}

// compareDocs compares one document: status, error text and the multiset of findings.
func compareDocs(desc, a string, da diffDoc, b string, db diffDoc) []string {
	var out []string
	if da.Status != db.Status {
		out = append(out, fmt.Sprintf("%s: status %s %s, %s %s", desc, a, da.Status, b, db.Status))
	}
	if da.Error != db.Error {
		out = append(out, fmt.Sprintf("%s: error\n      %s: %q\n      %s: %q", desc, a, da.Error, b, db.Error))
	}
	onlyA, onlyB := findingsDifference(da.Findings, db.Findings)
	for _, f := range onlyA {
		out = append(out, fmt.Sprintf("%s: only %s: %s", desc, a, f))
	}
	for _, f := range onlyB {
		out = append(out, fmt.Sprintf("%s: only %s: %s", desc, b, f))
	}
	return out
}

// findingsDifference returns the findings of a not matched in b and those of b not matched in a,
// counting repeated findings (multisets).
func findingsDifference(a, b []diffFinding) (onlyA, onlyB []diffFinding) {
	count := map[diffFinding]int{}
	for _, f := range b {
		count[f]++
	}
	for _, f := range a {
		if count[f] > 0 {
			count[f]--
			continue
		}
		onlyA = append(onlyA, f)
	}
	seen := map[diffFinding]int{}
	for _, f := range a {
		seen[f]++
	}
	for _, f := range b {
		if seen[f] > 0 {
			seen[f]--
			continue
		}
		onlyB = append(onlyB, f)
	}
	return onlyA, onlyB
}

// formatDisagreement renders the differences of one input between two engines; where says how it
// was checked (corpus, profile, parameters).
func formatDisagreement(input, where, a, b string, lines []string) string {
	var s strings.Builder
	fmt.Fprintf(&s, "%s (%s): %s vs %s", input, where, a, b)
	for _, l := range lines {
		s.WriteString("\n    " + l)
	}
	return s.String()
}

// TestDifferentialReportsDisagreement checks the comparison itself: identical outcomes agree, and
// an altered message, a dropped or repeated finding, a changed severity, status or error, and a
// missing document are each reported, with the input, the document and both engines named.
func TestDifferentialReportsDisagreement(t *testing.T) {
	base := func() diffOutcome {
		return diffOutcome{Docs: []diffDoc{
			{Desc: "document 0, line 1 (Pod default/p)", Status: report.StatusChecked, Findings: []diffFinding{
				{Rule: "host-network-required", Severity: "deny", Field: "spec.hostNetwork", Message: "spec.hostNetwork is unset"},
				{Rule: "resource-limits-set", Severity: "warn", Field: "spec.containers[0].resources.limits.cpu", Container: "c", Message: "no cpu limit"},
			}},
			{Desc: "document 1, line 9 (ConfigMap default/x)", Status: report.StatusSkipped},
		}}
	}
	require.Empty(t, compareOutcomes("opa", base(), "cel", base()))
	require.Equal(t, 1, base().exit())

	cases := map[string]struct {
		alter func(*diffOutcome)
		want  []string
	}{
		"altered message": {func(o *diffOutcome) { o.Docs[0].Findings[0].Message += "!" }, []string{
			`document 0, line 1 (Pod default/p): only opa: deny host-network-required spec.hostNetwork "spec.hostNetwork is unset"`,
			`document 0, line 1 (Pod default/p): only cel: deny host-network-required spec.hostNetwork "spec.hostNetwork is unset!"`}},
		"dropped deny": {func(o *diffOutcome) { o.Docs[0].Findings = o.Docs[0].Findings[1:] }, []string{
			"exit status: opa 1, cel 0",
			`document 0, line 1 (Pod default/p): only opa: deny host-network-required spec.hostNetwork "spec.hostNetwork is unset"`}},
		"repeated finding": {func(o *diffOutcome) { o.Docs[0].Findings = append(o.Docs[0].Findings, o.Docs[0].Findings[1]) }, []string{
			`document 0, line 1 (Pod default/p): only cel: warn resource-limits-set spec.containers[0].resources.limits.cpu [container: c] "no cpu limit"`}},
		"severity": {func(o *diffOutcome) { o.Docs[0].Findings[1].Severity = "deny" }, []string{
			`only opa: warn resource-limits-set`, `only cel: deny resource-limits-set`}},
		"error": {func(o *diffOutcome) {
			o.Docs[0] = diffDoc{Desc: o.Docs[0].Desc, Status: report.StatusError, Error: "cel: rule x: cost budget exceeded"}
		}, []string{"exit status: opa 1, cel 2", "status opa checked, cel error", `cel: "cel: rule x: cost budget exceeded"`}},
		"missing document": {func(o *diffOutcome) { o.Docs = o.Docs[:1] }, []string{"documents: opa 2, cel 1"}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			other := base()
			c.alter(&other)
			lines := compareOutcomes("opa", base(), "cel", other)
			require.NotEmpty(t, lines, "a deliberately altered outcome must be a disagreement")
			msg := formatDisagreement("bypass/x.yaml", "bypass, profile strict", "opa", "cel", lines)
			require.Contains(t, msg, "bypass/x.yaml (bypass, profile strict): opa vs cel")
			for _, w := range c.want {
				require.Contains(t, msg, w)
			}
		})
	}

	open := base()
	open.Docs[0].Findings = open.Docs[0].Findings[1:]
	require.NotEmpty(t, failClosedViolations(base(), open), "a checked document that loses its deny finding does not fail closed")
	closed := base()
	closed.Docs[0] = diffDoc{Desc: closed.Docs[0].Desc, Status: report.StatusError, Error: "cost"}
	require.Empty(t, failClosedViolations(base(), closed))
}
