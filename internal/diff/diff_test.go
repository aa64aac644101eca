package diff

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hpguard/hpguard/internal/report"
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
