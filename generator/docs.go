package generator

import (
	"fmt"
	"strings"

	"github.com/hpguard/hpguard/generator/checks"
	"github.com/hpguard/hpguard/generator/spec"
)

// DocsPath is the generated rule reference.
const DocsPath = "docs/rules.md"

// Docs renders docs/rules.md: the profiles table and one section per rule.
func Docs(s *spec.Spec) ([]File, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "<!-- %s -->\n# %s rules\n\n%s\n\n", Header, s.Ruleset.Name, strings.TrimSpace(s.Ruleset.Description))
	b.WriteString("## Profiles\n\n")
	for _, p := range s.Ruleset.Profiles {
		def := ""
		if p.Name == s.Ruleset.DefaultProfile {
			def = " (default)"
		}
		fmt.Fprintf(&b, "- **%s**%s: %s\n", p.Name, def, strings.TrimSpace(p.Description))
	}
	b.WriteString("\n| rule | reference | scope |")
	for _, p := range s.Ruleset.Profiles {
		fmt.Fprintf(&b, " %s |", p.Name)
	}
	b.WriteString("\n|---|---|---|")
	for range s.Ruleset.Profiles {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, r := range s.Rules {
		fmt.Fprintf(&b, "| [`%s`](#%s) | %s | %s |", r.ID, r.ID, r.Reference, r.Scope)
		for _, p := range s.Ruleset.Profiles {
			sev := string(p.Rules[r.ID])
			if sev == "" {
				sev = "-"
			}
			fmt.Fprintf(&b, " %s |", sev)
		}
		b.WriteString("\n")
	}
	b.WriteString("\n## Entry points\n\n" +
		"The object under review is chosen by the entry point, never by a field of the object: a manifest\n" +
		"(`hpguard check`, conftest, `opa eval`) is evaluated as the input document itself through\n" +
		"`data." + s.Ruleset.Package + ".profiles.<profile>` (`findings`, `deny`, `warn`); an AdmissionReview (OPA as a\n" +
		"validating admission webhook) through `data." + s.Ruleset.Package + ".admission.<profile>` (`findings`, `deny`,\n" +
		"`warn`, `response`), which evaluates `input.request.object`; a Gatekeeper template evaluates\n" +
		"`input.review.object`. Both admission entry points pass the object to the library with `with`.\n")
	nc := s.Ruleset.NameComparison
	fmt.Fprintf(&b, "\n## How names compare\n\n%s\n\n", strings.TrimSpace(nc.Description))
	b.WriteString("| character | read as | why |\n|---|---|---|\n")
	for _, l := range nc.Lookalikes {
		fmt.Fprintf(&b, "| U+%04X `%s` | `%s` | %s |\n", []rune(l.Char)[0], l.Char, l.As, l.Why)
	}
	if nc.Fullwidth {
		b.WriteString("| U+FF01-U+FF5E (fullwidth forms), U+3000 | U+0021-U+007E, space | width folding |\n")
	}
	if len(s.Ruleset.Rewrites) > 0 {
		b.WriteString("\n## What the API server rewrites before admission\n\n" +
			"Rules read a manifest as the API server will store and run it:\n\n" +
			"| field | what the API server does | how the rules read it | source |\n|---|---|---|---|\n")
		for _, rw := range s.Ruleset.Rewrites {
			fmt.Fprintf(&b, "| `%s` | %s | %s | [source](%s) |\n", rw.Field, strings.TrimSpace(rw.Change), strings.TrimSpace(rw.Handling), rw.Source)
		}
	}
	for _, r := range s.Rules {
		fmt.Fprintf(&b, "\n## %s\n\n**%s** (%s; check `%s`; scope `%s`)\n\n%s\n\n**Remediation:** %s\n\n",
			r.ID, r.Title, r.Reference, r.Check.Kind, r.Scope, strings.TrimSpace(r.Description), strings.TrimSpace(r.Remediation))
		if len(r.Parameters) > 0 {
			b.WriteString("| parameter | default | description |\n|---|---|---|\n")
			for _, p := range r.Parameters {
				fmt.Fprintf(&b, "| `%s` | `%s` | %s |\n", p.Name, compactJSON(p.Default), strings.TrimSpace(p.Description))
			}
			b.WriteString("\n")
		}
		b.WriteString("Allowed values:\n\n")
		for _, v := range r.Golden.Allowed {
			fmt.Fprintf(&b, "- `%s`%s: %s\n", v.Name, describeLevels(v), describeChange(v))
		}
		b.WriteString("\nDisallowed values:\n\n")
		for _, v := range r.Golden.Disallowed {
			fmt.Fprintf(&b, "- `%s`%s: %s\n", v.Name, describeLevels(v), describeChange(v))
		}
		b.WriteString("\nSources:\n\n")
		for _, src := range r.Sources {
			fmt.Fprintf(&b, "- [%s](%s)\n", src.Title, src.URL)
		}
	}
	b.WriteString("\n## Check kinds\n\nA rule's check names a kind, gives its arguments and writes the text of its messages, with\n" +
		"the placeholders the kind fills in (`generator/checks/<kind>/`).\n")
	for _, name := range checks.Names() {
		k := checks.Lookup(name)
		fmt.Fprintf(&b, "\n### %s\n\n%s%s.\n\n", k.Name, strings.ToUpper(k.Doc[:1]), k.Doc[1:])
		var args []string
		for _, a := range k.Arguments() {
			opt := ""
			if !a.Required {
				opt = ", optional"
			}
			args = append(args, fmt.Sprintf("`%s` (%s%s)", a.Name, a.Type, opt))
		}
		if len(args) == 0 {
			args = []string{"none"}
		}
		fmt.Fprintf(&b, "Arguments: %s.\n\n", strings.Join(args, ", "))
		for _, m := range k.Messages {
			var ps []string
			for _, p := range m.Placeholders {
				ps = append(ps, fmt.Sprintf("`{%s}` %s", p.Name, p.Doc))
			}
			fmt.Fprintf(&b, "- message `%s`: %s\n", m.ID, strings.Join(ps, "; "))
		}
	}
	return []File{{Path: DocsPath, Data: []byte(b.String())}}, nil
}

func describeLevels(v spec.GoldenValue) string {
	return " (at " + strings.Join(v.Levels(), ", ") + ")"
}

func describeChange(v spec.GoldenValue) string {
	var parts []string
	if v.Description != "" {
		parts = append(parts, v.Description)
	}
	for _, p := range []struct {
		label string
		m     map[string]any
	}{{"patch", v.Patch}, {"pod spec", v.PodPatch}, {"pod metadata", v.MetaPatch}, {"parameters", v.Params}} {
		if len(p.m) > 0 {
			parts = append(parts, fmt.Sprintf("%s `%s`", p.label, compactJSON(p.m)))
		}
	}
	if len(parts) == 0 {
		return "the base manifest unchanged"
	}
	return strings.Join(parts, "; ")
}

func compactJSON(v any) string {
	b, err := marshalJSON(clone(v))
	if err != nil {
		return fmt.Sprint(v)
	}
	var out strings.Builder
	// one line: drop the indentation marshalJSON adds
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		out.WriteString(strings.TrimSpace(l))
	}
	return strings.ReplaceAll(strings.ReplaceAll(out.String(), ",\"", ", \""), "|", "\\|")
}
