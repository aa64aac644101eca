// Package ruleset is the rule metadata shipped with the policies (data.<package>.ruleset in the
// bundle): what the evaluator, the reporters and `hpguard rules` know about rules and profiles
// without reading the spec or the generator.
package ruleset

import (
	"encoding/json"
	"fmt"
	"sort"
)

// Ruleset describes the rule set.
type Ruleset struct {
	Name           string           `json:"name"`
	Version        string           `json:"version"`
	Package        string           `json:"package"`
	Description    string           `json:"description"`
	DefaultProfile string           `json:"defaultProfile"`
	Profiles       []Profile        `json:"profiles"`
	Rules          map[string]*Rule `json:"rules"`
	// NameComparison is how names that Windows compares without regard to case are compared.
	NameComparison NameComparison `json:"nameComparison"`
}

// Profile is a named selection of rules with their severities and default parameters.
type Profile struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Rules maps rule id to severity ("deny" or "warn").
	Rules map[string]string `json:"rules"`
	// Parameters maps rule id to its default parameters in this profile.
	Parameters map[string]map[string]any `json:"parameters"`
}

// Rule describes one rule.
type Rule struct {
	ID          string      `json:"id"`
	Title       string      `json:"title"`
	Reference   string      `json:"reference"`
	Description string      `json:"description"`
	Remediation string      `json:"remediation"`
	Scope       string      `json:"scope"`
	Package     string      `json:"package"`
	Reads       []string    `json:"reads,omitempty"`
	Sources     []Source    `json:"sources"`
	Parameters  []Parameter `json:"parameters,omitempty"`
	Allowed     []Value     `json:"allowed"`
	Disallowed  []Value     `json:"disallowed"`
}

// Source is a document or code a rule is derived from.
type Source struct {
	Title string `json:"title"`
	URL   string `json:"url"`
}

// Parameter is an operator-settable rule parameter.
type Parameter struct {
	Name        string         `json:"name"`
	Description string         `json:"description"`
	Schema      map[string]any `json:"schema"`
	Default     any            `json:"default"`
}

// Value is a golden value, described for people.
type Value struct {
	Name        string         `json:"name"`
	Description string         `json:"description,omitempty"`
	At          []string       `json:"at"`
	Patch       map[string]any `json:"patch,omitempty"`
	PodPatch    map[string]any `json:"podPatch,omitempty"`
	MetaPatch   map[string]any `json:"metaPatch,omitempty"`
	Params      map[string]any `json:"params,omitempty"`
}

// Parse reads the metadata document ({"<package>": {"ruleset": {...}}}).
func Parse(data []byte) (*Ruleset, error) {
	var doc map[string]struct {
		Ruleset *Ruleset `json:"ruleset"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("ruleset metadata: %w", err)
	}
	for _, v := range doc {
		if v.Ruleset != nil {
			return v.Ruleset, nil
		}
	}
	return nil, fmt.Errorf("ruleset metadata: no ruleset document")
}

// Profile returns the named profile, or an error naming the valid ones.
func (r *Ruleset) Profile(name string) (*Profile, error) {
	var names []string
	for i := range r.Profiles {
		if r.Profiles[i].Name == name {
			return &r.Profiles[i], nil
		}
		names = append(names, r.Profiles[i].Name)
	}
	sort.Strings(names)
	return nil, fmt.Errorf("unknown profile %q (valid: %v)", name, names)
}

// RuleIDs returns the ids of every rule, sorted.
func (r *Ruleset) RuleIDs() []string {
	ids := make([]string, 0, len(r.Rules))
	for id := range r.Rules {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// ProfileRuleIDs returns the ids of the profile's rules, sorted.
func (p *Profile) ProfileRuleIDs() []string {
	ids := make([]string, 0, len(p.Rules))
	for id := range p.Rules {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}
