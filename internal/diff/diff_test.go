package diff

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hpguard/hpguard/internal/report"
	"github.com/hpguard/hpguard/internal/ruleset"
)

func TestChange(t *testing.T) {
	pass, warn, deny := Result{}, Result{Verdict: VerdictWarn, Messages: []string{"w"}}, Result{Verdict: VerdictDeny, Messages: []string{"d"}}
	for _, c := range []struct {
		old, new Result
		want     string
	}{
		{pass, pass, ""},
		{pass, deny, NewlyDenied},
		{warn, deny, NewlyDenied},
		{deny, pass, NewlyAllowed},
		{deny, warn, NewlyAllowed},
		{pass, warn, NewlyWarned},
		{warn, pass, NoLongerWarned},
		{deny, deny, ""},
		{deny, Result{Verdict: VerdictDeny, Messages: []string{"other"}}, MessageChanged},
	} {
		require.Equal(t, c.want, change(c.old, c.new), "%+v -> %+v", c.old, c.new)
	}
}

func TestVerdictsCountOpenFindings(t *testing.T) {
	v := verdicts([]report.Finding{
		{Rule: "a", Severity: "warn", Message: "m1", Field: "spec.x"},
		{Rule: "a", Severity: "deny", Message: "spec.y is wrong"},
		{Rule: "b", Severity: "deny", Message: "m3", Status: report.FindingSuppressed},
	})
	require.Equal(t, map[string]Result{"a": {Verdict: VerdictDeny, Messages: []string{"spec.x: m1", "spec.y is wrong"}}}, v,
		"the worst open finding decides; a suppressed finding does not count; the field is named once")
}

func TestCompareVerdictsRefusesDifferentInputs(t *testing.T) {
	d := &Diff{}
	err := d.CompareVerdicts(&report.Report{Results: []report.Result{{File: "a", Document: 1}}}, &report.Report{})
	require.Error(t, err)
	err = d.CompareVerdicts(&report.Report{Results: []report.Result{{File: "a", Document: 1}}}, &report.Report{Results: []report.Result{{File: "b", Document: 1}}})
	require.Error(t, err)
}

func TestGolden(t *testing.T) {
	old := []ruleset.Value{{Name: "a", At: []string{"x"}}, {Name: "b"}, {Name: "c", Patch: map[string]any{"k": 1}}}
	new := []ruleset.Value{{Name: "a", At: []string{"x"}}, {Name: "c", Patch: map[string]any{"k": 2}}, {Name: "d"}}
	require.Equal(t, []GoldenChange{
		{Rule: "r", List: "allowed", Name: "b", Change: "removed"},
		{Rule: "r", List: "allowed", Name: "c", Change: "changed"},
		{Rule: "r", List: "allowed", Name: "d", Change: "added"},
	}, golden("r", "allowed", old, new))
}
