package generator

import (
	"strings"

	"github.com/hpguard/hpguard/generator/spec"
	"github.com/hpguard/hpguard/internal/ruleset"
)

// MetadataPath is where the ruleset metadata is written; OPA loads it as data.<package>.ruleset.
const MetadataPath = "policies/rego/data.json"

// Metadata converts the spec into the metadata document shipped beside the Rego (and in the bundle),
// which the evaluator reads to describe rules, validate parameters and assign severities.
func Metadata(s *spec.Spec) *ruleset.Ruleset {
	m := &ruleset.Ruleset{
		Name:           s.Ruleset.Name,
		Version:        s.Ruleset.Version,
		Package:        s.Ruleset.Package,
		Description:    s.Ruleset.Description,
		DefaultProfile: s.Ruleset.DefaultProfile,
		Rules:          map[string]*ruleset.Rule{},
		NameComparison: NameComparison(s),
	}
	for _, p := range s.Ruleset.Profiles {
		prof := ruleset.Profile{Name: p.Name, Description: p.Description, Rules: map[string]string{}, Parameters: map[string]map[string]any{}}
		for id, sev := range p.Rules {
			prof.Rules[id] = string(sev)
			if r := s.RuleByID(id); r != nil && len(r.Parameters) > 0 {
				prof.Parameters[id] = r.ParamDefaults()
			}
		}
		m.Profiles = append(m.Profiles, prof)
	}
	for _, r := range s.Rules {
		rr := &ruleset.Rule{
			ID:          r.ID,
			Title:       r.Title,
			Reference:   r.Reference,
			Description: r.Description,
			Remediation: r.Remediation,
			Scope:       string(r.Scope),
			Package:     s.Ruleset.Package + ".rules." + regoName(r.ID),
			Reads:       r.Reads,
		}
		for _, src := range r.Sources {
			rr.Sources = append(rr.Sources, ruleset.Source{Title: src.Title, URL: src.URL})
		}
		for _, p := range r.Parameters {
			rr.Parameters = append(rr.Parameters, ruleset.Parameter{Name: p.Name, Description: p.Description, Schema: p.Schema, Default: p.Default})
		}
		for _, v := range r.Golden.Allowed {
			rr.Allowed = append(rr.Allowed, describeValue(v))
		}
		for _, v := range r.Golden.Disallowed {
			rr.Disallowed = append(rr.Disallowed, describeValue(v))
		}
		m.Rules[r.ID] = rr
	}
	return m
}

func metadataFile(s *spec.Spec) (File, error) {
	doc := map[string]any{s.Ruleset.Package: map[string]any{"ruleset": Metadata(s)}}
	data, err := marshalJSON(doc)
	if err != nil {
		return File{}, err
	}
	return File{Path: MetadataPath, Data: data}, nil
}

// describeValue renders a golden value for people: its name, description and the change it makes.
func describeValue(v spec.GoldenValue) ruleset.Value {
	out := ruleset.Value{Name: v.Name, Description: v.Description, At: v.Levels()}
	if len(v.Patch) > 0 {
		out.Patch = v.Patch
	}
	if len(v.PodPatch) > 0 {
		out.PodPatch = v.PodPatch
	}
	if len(v.MetaPatch) > 0 {
		out.MetaPatch = v.MetaPatch
	}
	if len(v.Params) > 0 {
		out.Params = v.Params
	}
	return out
}

// NameComparison converts the spec's name comparison into the compiled ruleset's.
func NameComparison(s *spec.Spec) ruleset.NameComparison {
	nc := s.Ruleset.NameComparison
	out := ruleset.NameComparison{Description: strings.TrimSpace(nc.Description), Fullwidth: nc.Fullwidth, Lookalikes: []ruleset.Lookalike{}}
	for _, l := range nc.Lookalikes {
		out.Lookalikes = append(out.Lookalikes, ruleset.Lookalike{Char: l.Char, As: l.As, Why: l.Why})
	}
	return out
}
