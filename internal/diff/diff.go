// Package diff says what a new revision of the policies changes: in the rule set (rules, severities
// per profile, parameters, golden values, the Rego itself) and in the verdicts on given workloads.
package diff

import (
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/hpguard/hpguard/internal/engine"
	"github.com/hpguard/hpguard/internal/report"
	"github.com/hpguard/hpguard/internal/ruleset"
)

// Side is one revision of the policies.
type Side struct {
	// Source is how the revision was named (a bundle file, a spec directory, a git revision).
	Source string `json:"source"`
	// Ruleset is the revision's rule set name and version, e.g. "hpguard 0.1.0".
	Ruleset string `json:"ruleset"`
	// Policy is the loaded revision.
	Policy *engine.Policy `json:"-"`
}

// Diff is everything that changes from Old to New.
type Diff struct {
	Version int    `json:"version"`
	Old     Side   `json:"old"`
	New     Side   `json:"new"`
	Profile string `json:"profile"`
	// DefaultProfile is set when the default profile changes.
	DefaultProfile *Change `json:"defaultProfile,omitempty"`
	Rules          Rules   `json:"rules"`
	// Verdicts are the verdict changes per workload and rule, in input order (nil when no
	// manifest was given).
	Verdicts []Verdict `json:"verdicts"`
	// Problems are the documents that could not be read or evaluated, with why.
	Problems []string `json:"problems,omitempty"`
	Summary  Summary  `json:"summary"`
	// Manifests is whether manifests were evaluated.
	Manifests bool `json:"-"`
}

// Change is an old and a new value.
type Change struct {
	Old any `json:"old"`
	New any `json:"new"`
}

// Rules are the rule set changes.
type Rules struct {
	Added      []RuleRef        `json:"added"`
	Removed    []RuleRef        `json:"removed"`
	Severities []SeverityChange `json:"severities"`
	Parameters []ParamChange    `json:"parameters"`
	Golden     []GoldenChange   `json:"golden"`
	Rego       []RegoChange     `json:"rego"`
}

// RuleRef is a rule added or removed, with its severity in each profile of the revision that has it.
type RuleRef struct {
	ID       string            `json:"id"`
	Title    string            `json:"title"`
	Profiles map[string]string `json:"profiles"`
}

// SeverityChange is a rule's severity in a profile, "" when the profile does not hold the rule.
type SeverityChange struct {
	Profile string `json:"profile"`
	Rule    string `json:"rule"`
	Old     string `json:"old"`
	New     string `json:"new"`
}

// Parameter change kinds.
const (
	ParamAdded   = "added"
	ParamRemoved = "removed"
	ParamSchema  = "schema"
	ParamDefault = "default"
)

// ParamChange is a parameter added or removed, its schema changed, or its default in a profile
// changed (the rule's default with the profile's override applied).
type ParamChange struct {
	Rule      string `json:"rule"`
	Parameter string `json:"parameter"`
	Change    string `json:"change"`
	// Profile is set for a default change.
	Profile string `json:"profile,omitempty"`
	Old     any    `json:"old,omitempty"`
	New     any    `json:"new,omitempty"`
}

// GoldenChange is a golden value added to or removed from a rule's allowed or disallowed list.
type GoldenChange struct {
	Rule   string `json:"rule"`
	List   string `json:"list"`
	Name   string `json:"name"`
	Change string `json:"change"`
}

// RegoChange is a Rego module added, removed or changed, with the rule it implements when it
// implements one.
type RegoChange struct {
	Module string `json:"module"`
	Rule   string `json:"rule,omitempty"`
	Change string `json:"change"`
}

// Verdict kinds of a workload under one rule: the most severe open finding, or pass.
const (
	VerdictPass = "pass"
	VerdictWarn = "warn"
	VerdictDeny = "deny"
)

// Verdict change kinds.
const (
	NewlyDenied    = "newly denied"
	NewlyAllowed   = "newly allowed"
	NewlyWarned    = "newly warned"
	NoLongerWarned = "no longer warned"
	MessageChanged = "message changed"
)

// Verdict is the change of one workload's verdict under one rule.
type Verdict struct {
	File      string `json:"file"`
	Document  int    `json:"document"`
	Line      int    `json:"line"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	Rule      string `json:"rule"`
	Change    string `json:"change"`
	Old       Result `json:"old"`
	New       Result `json:"new"`
}

// Result is a workload's verdict under one rule and the messages of its open findings.
type Result struct {
	Verdict  string   `json:"verdict"`
	Messages []string `json:"messages"`
}

// Summary counts the changes.
type Summary struct {
	RulesAdded        int `json:"rulesAdded"`
	RulesRemoved      int `json:"rulesRemoved"`
	SeverityChanges   int `json:"severityChanges"`
	ParameterChanges  int `json:"parameterChanges"`
	GoldenChanges     int `json:"goldenChanges"`
	RegoChanges       int `json:"regoChanges"`
	Workloads         int `json:"workloads"`
	WorkloadsChanged  int `json:"workloadsChanged"`
	NewlyDenied       int `json:"newlyDenied"`
	NewlyAllowed      int `json:"newlyAllowed"`
	NewlyWarned       int `json:"newlyWarned"`
	NoLongerWarned    int `json:"noLongerWarned"`
	MessagesChanged   int `json:"messagesChanged"`
	Errors            int `json:"errors"`
	VerdictsUnchanged int `json:"-"`
}

// VerdictsChange reports whether some workload's verdict changes (message changes alone do not).
func (d *Diff) VerdictsChange() bool {
	for _, v := range d.Verdicts {
		if v.Change != MessageChanged {
			return true
		}
	}
	return false
}

// CompareRules fills d.Rules (and d.DefaultProfile) from the two revisions' rule sets and modules.
func (d *Diff) CompareRules() {
	o, n := d.Old.Policy.Ruleset, d.New.Policy.Ruleset
	if o.DefaultProfile != n.DefaultProfile {
		d.DefaultProfile = &Change{Old: o.DefaultProfile, New: n.DefaultProfile}
	}
	r := &d.Rules
	for _, id := range union(keys(o.Rules), keys(n.Rules)) {
		or, nr := o.Rules[id], n.Rules[id]
		switch {
		case or == nil:
			r.Added = append(r.Added, ruleRef(n, nr))
		case nr == nil:
			r.Removed = append(r.Removed, ruleRef(o, or))
		default:
			r.Parameters = append(r.Parameters, params(id, or, nr, o, n)...)
			r.Golden = append(r.Golden, golden(id, "allowed", or.Allowed, nr.Allowed)...)
			r.Golden = append(r.Golden, golden(id, "disallowed", or.Disallowed, nr.Disallowed)...)
		}
	}
	for _, p := range union(profileNames(o), profileNames(n)) {
		op, np := profileRules(o, p), profileRules(n, p)
		for _, id := range union(keys(op), keys(np)) {
			// A rule added or removed is reported as such, not as a severity change.
			if o.Rules[id] == nil || n.Rules[id] == nil {
				continue
			}
			if op[id] != np[id] {
				r.Severities = append(r.Severities, SeverityChange{Profile: p, Rule: id, Old: op[id], New: np[id]})
			}
		}
	}
	r.Rego = regoChanges(d.Old.Policy, d.New.Policy)
	d.Summary.RulesAdded, d.Summary.RulesRemoved = len(r.Added), len(r.Removed)
	d.Summary.SeverityChanges, d.Summary.ParameterChanges = len(r.Severities), len(r.Parameters)
	d.Summary.GoldenChanges, d.Summary.RegoChanges = len(r.Golden), len(r.Rego)
}

func ruleRef(rs *ruleset.Ruleset, r *ruleset.Rule) RuleRef {
	ref := RuleRef{ID: r.ID, Title: r.Title, Profiles: map[string]string{}}
	for _, p := range rs.Profiles {
		if s, ok := p.Rules[r.ID]; ok {
			ref.Profiles[p.Name] = s
		}
	}
	return ref
}

// params compares a rule's parameters: added, removed, schema, and the effective default in every
// profile that holds the rule in either revision.
func params(id string, or, nr *ruleset.Rule, o, n *ruleset.Ruleset) []ParamChange {
	om, nm := paramMap(or), paramMap(nr)
	var out []ParamChange
	for _, name := range union(keys(om), keys(nm)) {
		op, np := om[name], nm[name]
		switch {
		case op == nil:
			out = append(out, ParamChange{Rule: id, Parameter: name, Change: ParamAdded, New: np.Default})
			continue
		case np == nil:
			out = append(out, ParamChange{Rule: id, Parameter: name, Change: ParamRemoved, Old: op.Default})
			continue
		}
		if !equalJSON(op.Schema, np.Schema) {
			out = append(out, ParamChange{Rule: id, Parameter: name, Change: ParamSchema, Old: op.Schema, New: np.Schema})
		}
		for _, p := range union(profileNames(o), profileNames(n)) {
			_, inOld := profileRules(o, p)[id]
			_, inNew := profileRules(n, p)[id]
			if !inOld || !inNew {
				continue
			}
			ov, nv := effectiveDefault(o, p, id, op), effectiveDefault(n, p, id, np)
			if !equalJSON(ov, nv) {
				out = append(out, ParamChange{Rule: id, Parameter: name, Change: ParamDefault, Profile: p, Old: ov, New: nv})
			}
		}
	}
	return out
}

func paramMap(r *ruleset.Rule) map[string]*ruleset.Parameter {
	m := map[string]*ruleset.Parameter{}
	for i := range r.Parameters {
		m[r.Parameters[i].Name] = &r.Parameters[i]
	}
	return m
}

func effectiveDefault(rs *ruleset.Ruleset, profile, rule string, p *ruleset.Parameter) any {
	for _, pr := range rs.Profiles {
		if pr.Name == profile {
			if v, ok := pr.Parameters[rule][p.Name]; ok {
				return v
			}
		}
	}
	return p.Default
}

func golden(id, list string, o, n []ruleset.Value) []GoldenChange {
	byName := func(vs []ruleset.Value) map[string]ruleset.Value {
		m := map[string]ruleset.Value{}
		for _, v := range vs {
			m[v.Name] = v
		}
		return m
	}
	om, nm := byName(o), byName(n)
	var out []GoldenChange
	for _, name := range union(keys(om), keys(nm)) {
		ov, inOld := om[name]
		nv, inNew := nm[name]
		switch {
		case !inOld:
			out = append(out, GoldenChange{Rule: id, List: list, Name: name, Change: "added"})
		case !inNew:
			out = append(out, GoldenChange{Rule: id, List: list, Name: name, Change: "removed"})
		case !equalJSON(ov, nv):
			out = append(out, GoldenChange{Rule: id, List: list, Name: name, Change: "changed"})
		}
	}
	return out
}

var packageLine = regexp.MustCompile(`(?m)^package\s+([A-Za-z0-9_.]+)`)

func regoChanges(o, n *engine.Policy) []RegoChange {
	rules := map[string]string{} // package -> rule id
	for _, rs := range []*ruleset.Ruleset{o.Ruleset, n.Ruleset} {
		for id, r := range rs.Rules {
			rules[r.Package] = id
		}
	}
	ruleOf := func(src string) string {
		if m := packageLine.FindStringSubmatch(src); m != nil {
			return rules[m[1]]
		}
		return ""
	}
	var out []RegoChange
	for _, m := range union(keys(o.Modules), keys(n.Modules)) {
		oldSrc, inOld := o.Modules[m]
		newSrc, inNew := n.Modules[m]
		switch {
		case !inOld:
			out = append(out, RegoChange{Module: m, Rule: ruleOf(newSrc), Change: "added"})
		case !inNew:
			out = append(out, RegoChange{Module: m, Rule: ruleOf(oldSrc), Change: "removed"})
		case oldSrc != newSrc:
			out = append(out, RegoChange{Module: m, Rule: ruleOf(newSrc), Change: "changed"})
		}
	}
	return out
}

// CompareVerdicts fills d.Verdicts from the two revisions' reports on the same inputs: per
// workload and rule, the most severe open finding (suppressed findings do not count) and the set of
// messages.
func (d *Diff) CompareVerdicts(old, new *report.Report) error {
	d.Manifests = true
	d.Verdicts = []Verdict{}
	if len(old.Results) != len(new.Results) {
		return fmt.Errorf("the two runs read %d and %d documents from the same inputs", len(old.Results), len(new.Results))
	}
	workloads := 0
	for i := range new.Results {
		or, nr := old.Results[i], new.Results[i]
		if or.File != nr.File || or.Document != nr.Document {
			return fmt.Errorf("the two runs read different documents at %d: %s#%d and %s#%d", i, or.File, or.Document, nr.File, nr.Document)
		}
		if or.Status == report.StatusError || nr.Status == report.StatusError {
			d.Summary.Errors++
			for _, r := range []report.Result{or, nr} {
				if r.Status == report.StatusError {
					d.Problems = append(d.Problems, fmt.Sprintf("%s:%d: %s", r.File, r.Line, r.Error))
					break
				}
			}
			continue
		}
		if nr.Status == report.StatusSkipped && or.Status == report.StatusSkipped {
			continue
		}
		workloads++
		ov, nv := verdicts(or.Findings), verdicts(nr.Findings)
		changed := false
		for _, rule := range union(keys(ov), keys(nv)) {
			o, n := ov[rule], nv[rule]
			c := change(o, n)
			if c == "" {
				continue
			}
			changed = changed || c != MessageChanged
			d.Verdicts = append(d.Verdicts, Verdict{File: nr.File, Document: nr.Document, Line: nr.Line, Kind: nr.Kind,
				Namespace: nr.Namespace, Name: nr.Name, Rule: rule, Change: c, Old: o, New: n})
			d.count(c)
		}
		if changed {
			d.Summary.WorkloadsChanged++
		}
	}
	d.Summary.Workloads = workloads
	return nil
}

func (d *Diff) count(c string) {
	switch c {
	case NewlyDenied:
		d.Summary.NewlyDenied++
	case NewlyAllowed:
		d.Summary.NewlyAllowed++
	case NewlyWarned:
		d.Summary.NewlyWarned++
	case NoLongerWarned:
		d.Summary.NoLongerWarned++
	case MessageChanged:
		d.Summary.MessagesChanged++
	}
}

// verdicts maps rule id to the verdict of its open findings.
func verdicts(fs []report.Finding) map[string]Result {
	m := map[string]Result{}
	for _, f := range fs {
		if f.Status == report.FindingSuppressed {
			continue
		}
		r := m[f.Rule]
		if r.Verdict != VerdictDeny {
			r.Verdict = f.Severity
		}
		msg := f.Message
		if f.Field != "" && !strings.Contains(msg, f.Field) {
			msg = f.Field + ": " + msg
		}
		if !slices.Contains(r.Messages, msg) {
			r.Messages = append(r.Messages, msg)
		}
		m[f.Rule] = r
	}
	for k, r := range m {
		sort.Strings(r.Messages)
		m[k] = r
	}
	return m
}

// change names the change from o to n ("" for none); a zero Result is a pass.
func change(o, n Result) string {
	ov, nv := o.Verdict, n.Verdict
	if ov == "" {
		ov = VerdictPass
	}
	if nv == "" {
		nv = VerdictPass
	}
	switch {
	case nv == VerdictDeny && ov != VerdictDeny:
		return NewlyDenied
	case ov == VerdictDeny && nv != VerdictDeny:
		return NewlyAllowed
	case nv == VerdictWarn && ov == VerdictPass:
		return NewlyWarned
	case ov == VerdictWarn && nv == VerdictPass:
		return NoLongerWarned
	case !slices.Equal(o.Messages, n.Messages):
		return MessageChanged
	}
	return ""
}

// Normalize sets the verdicts of zero Results to pass, for reports.
func (d *Diff) Normalize() {
	for i := range d.Verdicts {
		for _, r := range []*Result{&d.Verdicts[i].Old, &d.Verdicts[i].New} {
			if r.Verdict == "" {
				r.Verdict = VerdictPass
			}
			if r.Messages == nil {
				r.Messages = []string{}
			}
		}
	}
}

func profileNames(rs *ruleset.Ruleset) []string {
	var out []string
	for _, p := range rs.Profiles {
		out = append(out, p.Name)
	}
	return out
}

func profileRules(rs *ruleset.Ruleset, name string) map[string]string {
	for _, p := range rs.Profiles {
		if p.Name == name {
			return p.Rules
		}
	}
	return map[string]string{}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// union returns the sorted union of a and b.
func union(a, b []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range append(slices.Clone(a), b...) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// equalJSON compares two values as JSON documents (numbers by value).
func equalJSON(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	if errA != nil || errB != nil {
		return reflect.DeepEqual(a, b)
	}
	var va, vb any
	_ = json.Unmarshal(ja, &va)
	_ = json.Unmarshal(jb, &vb)
	return reflect.DeepEqual(va, vb)
}
