// Package audit builds the audit report for security reviewers: the identity of a policy bundle,
// every rule with its severity per profile, allowed and disallowed values and sources, the coverage
// of rules by golden cases through every engine, and optionally the findings of a check run. It
// renders as one self-contained HTML page or as Markdown.
package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

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
	// CacheDir and CacheKey, when both set, cache the coverage matrix (CacheKey names everything
	// it depends on: the engines' code and artifacts, the policy, the golden cases, the engines).
	CacheDir, CacheKey string
	// Generated is when the report was made (SOURCE_DATE_EPOCH when set, for reproducible reports).
	Generated time.Time
	// Inputs are what the report was made from, as name and value, in order (policy, key,
	// profile, parameters, manifests, engines).
	Inputs []Field
}

// Field is a named value of the report's inputs.
type Field struct{ Name, Value string }

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
	// FromCache is true when the coverage matrix was read from the cache.
	FromCache bool
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

// Count is a rule and its number of findings, in all and by severity.
type Count struct {
	Rule              string
	Count, Deny, Warn int
}

// Build evaluates every golden case with every engine and assembles the report. The coverage
// matrix is computed in parallel (one job per engine and rule, as many at once as there are
// processors), each engine compiled once per profile and parameter set; with a CacheDir it is
// read from and written to a cache entry keyed by everything it depends on (CacheKey).
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
	cached := false
	if in.CacheKey != "" && in.CacheDir != "" {
		if data, err := os.ReadFile(filepath.Join(in.CacheDir, in.CacheKey+".json")); err == nil {
			if json.Unmarshal(data, &a.Coverage) == nil && len(a.Coverage) == len(in.Ruleset.RuleIDs()) {
				cached = true
			} else {
				a.Coverage = nil
			}
		}
	}
	if !cached {
		cov, err := coverage(ctx, in, engines)
		if err != nil {
			return nil, err
		}
		a.Coverage = cov
		// Only a complete, passing matrix is cached: failures (which may come from an interrupted
		// or failing evaluation rather than the policy) are computed again on every run.
		if in.CacheKey != "" && in.CacheDir != "" && ctx.Err() == nil && allPassed(cov) {
			if data, err := json.Marshal(cov); err == nil && os.MkdirAll(in.CacheDir, 0o755) == nil {
				// A temporary file of its own, renamed into place: concurrent reports do not clash.
				if f, err := os.CreateTemp(in.CacheDir, in.CacheKey+".*.tmp"); err == nil {
					_, werr := f.Write(data)
					if cerr := f.Close(); werr == nil && cerr == nil {
						_ = os.Rename(f.Name(), filepath.Join(in.CacheDir, in.CacheKey+".json"))
					}
					_ = os.Remove(f.Name())
				}
			}
		}
	}
	a.FromCache = cached
	for _, rc := range a.Coverage {
		if rc.Cases == 0 {
			a.CoverageOK = false
		}
		for _, e := range rc.Engines {
			if len(e.Failures) > 0 {
				a.CoverageOK = false
			}
		}
	}
	if in.Check != nil {
		counts := map[string]*Count{}
		for _, r := range in.Check.Results {
			for _, f := range r.Findings {
				c := counts[f.Rule]
				if c == nil {
					c = &Count{Rule: f.Rule}
					counts[f.Rule] = c
				}
				c.Count++
				if f.Severity == report.SeverityDeny {
					c.Deny++
				} else {
					c.Warn++
				}
			}
		}
		for _, c := range counts {
			a.FindingsByRule = append(a.FindingsByRule, *c)
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

// allPassed is true when every engine passed every golden case of every rule.
func allPassed(cov []RuleCoverage) bool {
	for _, rc := range cov {
		if rc.Cases == 0 {
			return false
		}
		for _, e := range rc.Engines {
			if len(e.Failures) > 0 {
				return false
			}
		}
	}
	return true
}

// coverage evaluates every golden case of every rule with every engine under every profile that
// has the rule.
func coverage(ctx context.Context, in Input, engines []engine.Kind) ([]RuleCoverage, error) {
	byRule := map[string][]golden.Case{}
	for _, c := range in.Cases {
		byRule[c.Rule] = append(byRule[c.Rule], c)
	}
	type entry struct {
		once sync.Once
		ev   engine.Evaluator
		err  error
	}
	var mu sync.Mutex
	cache := map[string]*entry{}
	get := func(e engine.Kind, profile, rule string, params map[string]any) (engine.Evaluator, error) {
		ps := engine.Params{}
		if len(params) > 0 {
			ps[rule] = params
		}
		key, _ := json.Marshal([]any{e.Name, profile, ps})
		mu.Lock()
		en := cache[string(key)]
		if en == nil {
			en = &entry{}
			cache[string(key)] = en
		}
		mu.Unlock()
		en.once.Do(func() { en.ev, en.err = e.New(ctx, in.Sources, profile, ps) })
		return en.ev, en.err
	}
	ids := in.Ruleset.RuleIDs()
	cov := make([]RuleCoverage, len(ids))
	for i, id := range ids {
		rc := RuleCoverage{Rule: id, Engines: make([]EngineResult, len(engines))}
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
		cov[i] = rc
	}
	// One job per engine, rule, profile and parameter set, so that the work spreads evenly (a rule
	// with many parameter cases would otherwise keep one worker busy alone); results are merged
	// in job order, so the report does not depend on scheduling.
	type job struct {
		rule, engine int
		profile      string
		severity     string
		cases        []golden.Case
		checks       int
		failures     []string
		err          error
	}
	var jobs []*job
	for ei := range engines {
		for ri, id := range ids {
			for _, prof := range in.Ruleset.Profiles {
				sev, ok := prof.Rules[id]
				if !ok {
					continue
				}
				groups := map[string]*job{}
				for _, c := range byRule[id] {
					key, _ := json.Marshal(c.Params)
					j := groups[string(key)]
					if j == nil {
						j = &job{rule: ri, engine: ei, profile: prof.Name, severity: sev}
						groups[string(key)] = j
						jobs = append(jobs, j)
					}
					j.cases = append(j.cases, c)
				}
			}
		}
	}
	queue := make(chan *job)
	var wg sync.WaitGroup
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range queue {
				e := engines[j.engine]
				ev, err := get(e, j.profile, ids[j.rule], j.cases[0].Params)
				if err != nil {
					j.err = fmt.Errorf("%s: %w", e.Title, err)
					continue
				}
				for _, c := range j.cases {
					j.checks++
					if msg := verify(ctx, ev, c, j.severity); msg != "" {
						j.failures = append(j.failures, j.profile+"/"+c.Name+": "+msg)
					}
				}
			}
		}()
	}
	for _, j := range jobs {
		queue <- j
	}
	close(queue)
	wg.Wait()
	var errs []error
	for i := range cov {
		for ei, e := range engines {
			cov[i].Engines[ei] = EngineResult{Engine: e.Title}
		}
	}
	for _, j := range jobs {
		errs = append(errs, j.err)
		r := &cov[j.rule].Engines[j.engine]
		r.Checks += j.checks
		r.Failures = append(r.Failures, j.failures...)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return cov, nil
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
