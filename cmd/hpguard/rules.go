package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/hpguard/hpguard/internal/ruleset"
)

type rulesParams struct {
	policyDir string
	output    string
}

func newRulesCmd() *cobra.Command {
	p := rulesParams{output: "text"}
	cmd := &cobra.Command{
		Use:   "rules [RULE]",
		Short: "List the rules with their severity per profile, or describe one rule",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRules(p, args, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&p.policyDir, "policy", "", "`DIR` of Rego produced by hpguard generate (default: the embedded policies)")
	cmd.Flags().StringVarP(&p.output, "output", "o", p.output, "output `FORMAT`: text or json")
	return cmd
}

func runRules(p rulesParams, args []string, stdout io.Writer) error {
	pol, err := loadPolicy(p.policyDir)
	if err != nil {
		return usageError(err)
	}
	rs := pol.Ruleset
	if p.output != "text" && p.output != "json" {
		return usageError(fmt.Errorf("--output %q: want text or json", p.output))
	}
	if len(args) == 1 {
		r := rs.Rules[args[0]]
		if r == nil {
			return usageError(fmt.Errorf("unknown rule %q (valid: %s)", args[0], strings.Join(rs.RuleIDs(), ", ")))
		}
		if p.output == "json" {
			return writeJSON(stdout, r)
		}
		describeRule(stdout, rs, r)
		return nil
	}
	if p.output == "json" {
		return writeJSON(stdout, rs)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprint(tw, "RULE")
	for _, prof := range rs.Profiles {
		fmt.Fprintf(tw, "\t%s", strings.ToUpper(prof.Name))
	}
	fmt.Fprintln(tw, "\tTITLE")
	for _, id := range rs.RuleIDs() {
		fmt.Fprint(tw, id)
		for _, prof := range rs.Profiles {
			sev := prof.Rules[id]
			if sev == "" {
				sev = "-"
			}
			fmt.Fprintf(tw, "\t%s", sev)
		}
		fmt.Fprintf(tw, "\t%s\n", rs.Rules[id].Title)
	}
	return tw.Flush()
}

func describeRule(w io.Writer, rs *ruleset.Ruleset, r *ruleset.Rule) {
	fmt.Fprintf(w, "%s: %s\n\n%s\n\n", r.ID, r.Title, wrap(r.Description, 100))
	fmt.Fprintf(w, "Reference: %s   Scope: %s   Package: %s\n", r.Reference, r.Scope, r.Package)
	var sevs []string
	for _, prof := range rs.Profiles {
		sev := prof.Rules[r.ID]
		if sev == "" {
			sev = "off"
		}
		sevs = append(sevs, prof.Name+"="+sev)
	}
	fmt.Fprintf(w, "Severity: %s\n\nRemediation:\n  %s\n", strings.Join(sevs, ", "), strings.ReplaceAll(wrap(r.Remediation, 98), "\n", "\n  "))
	if len(r.Parameters) > 0 {
		fmt.Fprintln(w, "\nParameters:")
		for _, prm := range r.Parameters {
			def, _ := json.Marshal(prm.Default)
			schema, _ := json.Marshal(prm.Schema)
			fmt.Fprintf(w, "  %s (default %s, schema %s)\n    %s\n", prm.Name, def, schema, prm.Description)
		}
	}
	for _, group := range []struct {
		title  string
		values []ruleset.Value
	}{{"Allowed values", r.Allowed}, {"Disallowed values", r.Disallowed}} {
		fmt.Fprintf(w, "\n%s:\n", group.title)
		for _, v := range group.values {
			fmt.Fprintf(w, "  %s (at %s)%s\n", v.Name, strings.Join(v.At, ", "), valueChange(v))
		}
	}
	fmt.Fprintln(w, "\nSources:")
	for _, s := range r.Sources {
		fmt.Fprintf(w, "  %s\n    %s\n", s.Title, s.URL)
	}
}

func valueChange(v ruleset.Value) string {
	var parts []string
	if v.Description != "" {
		parts = append(parts, v.Description)
	}
	for _, p := range []struct {
		label string
		m     map[string]any
	}{{"patch", v.Patch}, {"pod spec", v.PodPatch}, {"pod metadata", v.MetaPatch}, {"parameters", v.Params}} {
		if len(p.m) > 0 {
			b, _ := json.Marshal(p.m)
			parts = append(parts, p.label+" "+string(b))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return ": " + strings.Join(parts, "; ")
}

func wrap(s string, width int) string {
	var b strings.Builder
	n := 0
	for _, word := range strings.Fields(s) {
		if n > 0 && n+1+len(word) > width {
			b.WriteString("\n")
			n = 0
		} else if n > 0 {
			b.WriteString(" ")
			n++
		}
		b.WriteString(word)
		n += len(word)
	}
	return b.String()
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
