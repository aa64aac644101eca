package check

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/hpguard/hpguard/internal/report"
	"github.com/hpguard/hpguard/internal/workload"
)

// SuppressPrefix is the prefix of a suppression annotation: hpguard.io/ignore-<rule-id>, whose
// value is the reason the finding is accepted.
const SuppressPrefix = "hpguard.io/ignore-"

// The pseudo-rules of suppression annotations. They are reported by `hpguard check` only, whatever
// the engine and profile, and cannot be suppressed themselves.
const (
	// RuleSuppressionReason: a suppression annotation without a reason (empty or blank). It is a
	// deny finding and suppresses nothing.
	RuleSuppressionReason = "suppression-reason-required"
	// RuleSuppressionUnknown: a suppression annotation naming no rule of the ruleset (a typo, or
	// a rule removed since). It is a warn finding.
	RuleSuppressionUnknown = "suppression-unknown-rule"
)

// SuppressionRules describes the pseudo-rules for reporters (SARIF descriptors, JUnit text).
func SuppressionRules() []report.Rule {
	help := "https://github.com/hpguard/hpguard#suppressions"
	return []report.Rule{
		{ID: RuleSuppressionReason, Title: "A suppression annotation must give its reason",
			Description: "An annotation " + SuppressPrefix + "<rule-id> suppresses the findings of the rule in `hpguard check`; its value must say why the finding is accepted. An annotation without a reason suppresses nothing.",
			Remediation: "Write the reason as the annotation's value, or remove the annotation.",
			Severity:    report.SeverityDeny, HelpURI: help},
		{ID: RuleSuppressionUnknown, Title: "A suppression annotation must name a rule",
			Description: "An annotation " + SuppressPrefix + "<rule-id> whose rule id is not a rule of the ruleset suppresses nothing.",
			Remediation: "Correct the rule id (`hpguard rules` lists them), or remove the annotation.",
			Severity:    report.SeverityWarn, HelpURI: help},
	}
}

// suppression is one annotation hpguard.io/ignore-<rule> read from a workload.
type suppression struct {
	rule, reason, annotation string
	field                    string // the annotation's field path, e.g. metadata.annotations["hpguard.io/ignore-x"]
}

// suppressions reads the suppression annotations of a workload: those of its own metadata and
// those of its pod template's metadata (the first found wins for a rule, the workload's first).
func suppressions(obj map[string]any, kind string) []suppression {
	paths := [][]string{{"metadata"}}
	if k, ok := workload.Lookup(kind); ok && !slices.Equal(k.Meta, []string{"metadata"}) {
		paths = append(paths, k.Meta)
	}
	var out []suppression
	for _, p := range paths {
		var cur any = obj
		for _, step := range p {
			m, _ := cur.(map[string]any)
			cur = m[step]
		}
		meta, _ := cur.(map[string]any)
		ann, _ := meta["annotations"].(map[string]any)
		keys := make([]string, 0, len(ann))
		for k := range ann {
			if strings.HasPrefix(k, SuppressPrefix) {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			reason, _ := ann[k].(string) // a value that is not a string is no reason
			out = append(out, suppression{
				rule: strings.TrimPrefix(k, SuppressPrefix), reason: reason, annotation: k,
				field: strings.Join(p, ".") + ".annotations[" + strconv.Quote(k) + "]",
			})
		}
	}
	return out
}

// applySuppressions marks the findings suppressed by the workload's annotations and returns them
// with the findings of the annotations themselves: a missing reason (deny) or an unknown rule
// (warn). With disabled (--no-suppressions) nothing is suppressed, and the annotations are still
// checked. known reports whether a rule id is a rule of the ruleset; nil accepts every id.
func applySuppressions(findings []report.Finding, obj map[string]any, kind string, known func(string) bool, disabled bool) []report.Finding {
	sups := suppressions(obj, kind)
	if len(sups) == 0 {
		return findings
	}
	valid := map[string]suppression{}
	var extra []report.Finding
	for _, s := range sups {
		switch {
		case s.rule == RuleSuppressionReason || s.rule == RuleSuppressionUnknown || (known != nil && !known(s.rule)):
			extra = append(extra, report.Finding{Rule: RuleSuppressionUnknown, Severity: report.SeverityWarn, Field: s.field,
				Message: fmt.Sprintf("annotation %s names no rule hpguard can suppress, so it suppresses nothing: "+
					"correct the rule id (`hpguard rules` lists them) or remove the annotation", s.annotation)})
		case strings.TrimSpace(s.reason) == "":
			extra = append(extra, report.Finding{Rule: RuleSuppressionReason, Severity: report.SeverityDeny, Field: s.field,
				Message: fmt.Sprintf("annotation %s has no reason, so it suppresses nothing: write why the findings of %s "+
					"are accepted as the annotation's value, or remove the annotation", s.annotation, s.rule)})
		default:
			if _, dup := valid[s.rule]; !dup {
				valid[s.rule] = s
			}
		}
	}
	if !disabled {
		for i, f := range findings {
			if s, ok := valid[f.Rule]; ok {
				findings[i].Status = report.FindingSuppressed
				findings[i].Suppression = &report.Suppression{Reason: strings.TrimSpace(s.reason), Annotation: s.annotation}
			}
		}
	}
	return append(findings, extra...)
}
