// Package audit builds the audit report for security reviewers: the identity of a policy bundle,
// every rule with its severity per profile, allowed and disallowed values and sources, the coverage
// of rules by golden cases through every engine, and optionally the findings of a check run. It
// renders as one self-contained HTML page or as Markdown.
package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/hpguard/hpguard/internal/bundle"
	"github.com/hpguard/hpguard/internal/engine"
	"github.com/hpguard/hpguard/internal/golden"
	"github.com/hpguard/hpguard/internal/report"
	"github.com/hpguard/hpguard/internal/ruleset"
)

// Input is what the report is built from.
type Input struct {
	// Ruleset is the metadata of the audited policy.
	Ruleset *ruleset.Ruleset
	// Bundle describes the audited bundle (nil when the policy is not a bundle).
	Bundle *bundle.Info
	// Cases are the golden cases (golden.Load) of the spec the policy was generated from.
	Cases []golden.Case
	// Engines names the engines (engine.Names) run over every golden case.
	Engines []string
	// Sources are what the engines are built from.
	Sources engine.Sources
	// Check is the report of a check run to include (nil for none).
	Check *report.Report
	// Version is hpguard's version.
	Version string
}

// Audit is the assembled report.
type Audit struct {
	Input
	// EngineTitles are the engines as the report names them, in the order of Engines.
	EngineTitles []string
	Coverage     []RuleCoverage
	// FindingsByRule counts the check run's findings per rule.
	FindingsByRule []Count
	// CoverageOK is true when every engine passed every golden case.
	CoverageOK bool
}

// RuleCoverage is one rule's row of the coverage matrix.
type RuleCoverage struct {
	Rule       string
	Cases      int
	Allowed    int
	Disallowed int
	Kinds      int
	Engines    []EngineResult
}

// EngineResult is how one engine did on one rule's golden cases (every profile that has the rule).
type EngineResult struct {
	Engine   string
	Checks   int
	Failures []string
}

// Count is a rule and a number of findings.
type Count struct {
	Rule  string
	Count int
}

// Build evaluates every golden case with every engine and assembles the report.
func Build(ctx context.Context, in Input) (*Audit, error) {
	a := &Audit{Input: in, CoverageOK: true}
	var engines []engine.Kind
	for _, name := range in.Engines {
		k, err := engine.Lookup(name)
		if err != nil {
			return nil, err
		}
		engines = append(engines, k)
		a.EngineTitles = append(a.EngineTitles, k.Title)
	}
	byRule := map[string][]golden.Case{}
	for _, c := range in.Cases {
		byRule[c.Rule] = append(byRule[c.Rule], c)
	}
	cache := map[string]engine.Evaluator{}
	get := func(e engine.Kind, profile, rule string, params map[string]any) (engine.Evaluator, error) {
		ps := engine.Params{}
		if len(params) > 0 {
			ps[rule] = params
		}
		key, _ := json.Marshal([]any{e.Name, profile, ps})
		if ev := cache[string(key)]; ev != nil {
			return ev, nil
		}
		ev, err := e.New(ctx, in.Sources, profile, ps)
		if err != nil {
			return nil, err
		}
		cache[string(key)] = ev
		return ev, nil
	}
	for _, id := range in.Ruleset.RuleIDs() {
		rc := RuleCoverage{Rule: id}
		kinds := map[string]bool{}
		for _, c := range byRule[id] {
			rc.Cases++
			if c.Allowed {
				rc.Allowed++
			} else {
				rc.Disallowed++
			}
			kinds[c.Kind] = true
		}
		rc.Kinds = len(kinds)
		for _, e := range engines {
			res := EngineResult{Engine: e.Title}
			for _, prof := range in.Ruleset.Profiles {
				sev, ok := prof.Rules[id]
				if !ok {
					continue
				}
				for _, c := range byRule[id] {
					ev, err := get(e, prof.Name, id, c.Params)
					if err != nil {
						return nil, fmt.Errorf("%s: %w", e.Title, err)
					}
					res.Checks++
					if msg := verify(ctx, ev, c, sev); msg != "" {
						res.Failures = append(res.Failures, prof.Name+"/"+c.Name+": "+msg)
					}
				}
			}
			if len(res.Failures) > 0 {
				a.CoverageOK = false
			}
			rc.Engines = append(rc.Engines, res)
		}
		if rc.Cases == 0 {
			a.CoverageOK = false
		}
		a.Coverage = append(a.Coverage, rc)
	}
	if in.Check != nil {
		counts := map[string]int{}
		for _, r := range in.Check.Results {
			for _, f := range r.Findings {
				counts[f.Rule]++
			}
		}
		for id, n := range counts {
			a.FindingsByRule = append(a.FindingsByRule, Count{Rule: id, Count: n})
		}
		sort.Slice(a.FindingsByRule, func(i, j int) bool {
			if a.FindingsByRule[i].Count != a.FindingsByRule[j].Count {
				return a.FindingsByRule[i].Count > a.FindingsByRule[j].Count
			}
			return a.FindingsByRule[i].Rule < a.FindingsByRule[j].Rule
		})
	}
	return a, nil
}

// verify evaluates a golden case and returns what is wrong ("" when it passes).
func verify(ctx context.Context, ev engine.Evaluator, c golden.Case, severity string) string {
	fs, err := ev.Evaluate(ctx, c.Object)
	if err != nil {
		return err.Error()
	}
	var got, want []string
	for _, f := range fs {
		if f.Rule != c.Rule {
			continue
		}
		if f.Severity != severity {
			return fmt.Sprintf("severity %s, want %s", f.Severity, severity)
		}
		got = append(got, f.Field+" "+f.Container)
	}
	for _, e := range c.Expect {
		want = append(want, e.Field+" "+e.Container)
	}
	sort.Strings(got)
	got = slices.Compact(got) // several messages may concern one field
	sort.Strings(want)
	if strings.Join(got, "|") != strings.Join(want, "|") {
		return fmt.Sprintf("got %v, want %v", got, want)
	}
	return ""
}

// Passed is the number of passed checks of an engine result.
func (r EngineResult) Passed() int { return r.Checks - len(r.Failures) }
