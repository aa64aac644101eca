package diff

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Formats are the output formats of a diff.
var Formats = []string{"text", "json", "markdown"}

// Write writes d in the named format.
func Write(w io.Writer, format string, d *Diff) error {
	d.Normalize()
	switch format {
	case "text":
		return writeText(w, d)
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(d)
	case "markdown", "md":
		return writeMarkdown(w, d)
	}
	return fmt.Errorf("unknown format %q (valid: %s)", format, strings.Join(Formats, ", "))
}

// errWriter keeps the first write error.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}

func writeText(w io.Writer, d *Diff) error {
	e := &errWriter{w: w}
	e.printf("old: %s (%s)\nnew: %s (%s)\n", d.Old.Source, d.Old.Ruleset, d.New.Source, d.New.Ruleset)
	if d.DefaultProfile != nil {
		e.printf("default profile: %v -> %v\n", d.DefaultProfile.Old, d.DefaultProfile.New)
	}
	r := d.Rules
	if len(r.Added)+len(r.Removed) > 0 {
		e.printf("\nRules\n")
		for _, a := range r.Added {
			e.printf("  + %s: %s (%s)\n", a.ID, a.Title, profiles(a.Profiles))
		}
		for _, a := range r.Removed {
			e.printf("  - %s: %s (was %s)\n", a.ID, a.Title, profiles(a.Profiles))
		}
	}
	if len(r.Severities) > 0 {
		e.printf("\nSeverities\n")
		for _, s := range r.Severities {
			e.printf("  %s: %s: %s -> %s\n", s.Profile, s.Rule, severity(s.Old), severity(s.New))
		}
	}
	if len(r.Parameters) > 0 {
		e.printf("\nParameters\n")
		for _, p := range r.Parameters {
			e.printf("  %s\n", paramLine(p))
		}
	}
	if len(r.Golden) > 0 {
		e.printf("\nGolden values\n")
		for _, g := range r.Golden {
			e.printf("  %s %s: %s %q\n", sign(g.Change), g.Rule, g.List, g.Name)
		}
	}
	if len(r.Rego) > 0 {
		e.printf("\nRego\n")
		for _, m := range r.Rego {
			e.printf("  %s %s%s\n", sign(m.Change), m.Module, ruleSuffix(m.Rule))
		}
	}
	if d.Manifests {
		e.printf("\nVerdicts (profile %s, %d workloads)\n", d.Profile, d.Summary.Workloads)
		if len(d.Verdicts) == 0 {
			e.printf("  no verdict changes\n")
		}
		last := ""
		for _, v := range d.Verdicts {
			if head := workload(v); head != last {
				e.printf("  %s\n", head)
				last = head
			}
			e.printf("    %s: %s (%s -> %s)\n", v.Change, v.Rule, v.Old.Verdict, v.New.Verdict)
			for _, m := range messages(v) {
				e.printf("      %s\n", m)
			}
		}
	}
	if len(d.Problems) > 0 {
		e.printf("\nCould not be read or evaluated\n")
		for _, p := range d.Problems {
			e.printf("  %s\n", p)
		}
	}
	e.printf("\n%s\n", summaryLine(d))
	return e.err
}

func writeMarkdown(w io.Writer, d *Diff) error {
	e := &errWriter{w: w}
	e.printf("### hpguard diff\n\n")
	e.printf("| | source | rule set |\n|---|---|---|\n| old | `%s` | %s |\n| new | `%s` | %s |\n\n",
		md(d.Old.Source), md(d.Old.Ruleset), md(d.New.Source), md(d.New.Ruleset))
	e.printf("%s\n", summaryLine(d))
	if d.DefaultProfile != nil {
		e.printf("\nDefault profile: `%v` → `%v`\n", d.DefaultProfile.Old, d.DefaultProfile.New)
	}
	r := d.Rules
	if len(r.Added)+len(r.Removed) > 0 {
		e.printf("\n#### Rules\n\n| | rule | title | profiles |\n|---|---|---|---|\n")
		for _, a := range r.Added {
			e.printf("| added | `%s` | %s | %s |\n", a.ID, md(a.Title), profiles(a.Profiles))
		}
		for _, a := range r.Removed {
			e.printf("| removed | `%s` | %s | %s |\n", a.ID, md(a.Title), profiles(a.Profiles))
		}
	}
	if len(r.Severities) > 0 {
		e.printf("\n#### Severities\n\n| profile | rule | old | new |\n|---|---|---|---|\n")
		for _, s := range r.Severities {
			e.printf("| %s | `%s` | %s | %s |\n", s.Profile, s.Rule, severity(s.Old), severity(s.New))
		}
	}
	if len(r.Parameters) > 0 {
		e.printf("\n#### Parameters\n\n| rule | parameter | change | old | new |\n|---|---|---|---|---|\n")
		for _, p := range r.Parameters {
			c := p.Change
			if p.Profile != "" {
				c += " in " + p.Profile
			}
			e.printf("| `%s` | `%s` | %s | %s | %s |\n", p.Rule, p.Parameter, c, mdValue(p.Old), mdValue(p.New))
		}
	}
	if len(r.Golden) > 0 {
		e.printf("\n#### Golden values\n\n| rule | list | value | change |\n|---|---|---|---|\n")
		for _, g := range r.Golden {
			e.printf("| `%s` | %s | %s | %s |\n", g.Rule, g.List, md(g.Name), g.Change)
		}
	}
	if len(r.Rego) > 0 {
		e.printf("\n#### Rego\n\n| module | rule | change |\n|---|---|---|\n")
		for _, m := range r.Rego {
			e.printf("| `%s` | %s | %s |\n", m.Module, code(m.Rule), m.Change)
		}
	}
	if len(d.Problems) > 0 {
		e.printf("\n#### Could not be read or evaluated\n\n")
		for _, p := range d.Problems {
			e.printf("- %s\n", md(p))
		}
	}
	if d.Manifests {
		e.printf("\n#### Verdicts (profile %s, %d workloads)\n\n", d.Profile, d.Summary.Workloads)
		if len(d.Verdicts) == 0 {
			e.printf("No verdict changes.\n")
		} else {
			e.printf("| workload | rule | change | message |\n|---|---|---|---|\n")
			for _, v := range d.Verdicts {
				e.printf("| %s | `%s` | %s (%s → %s) | %s |\n", md(workload(v)), v.Rule, v.Change, v.Old.Verdict, v.New.Verdict,
					md(strings.Join(messages(v), "\n")))
			}
		}
	}
	return e.err
}

func summaryLine(d *Diff) string {
	s := d.Summary
	line := fmt.Sprintf("%s added, %s removed, %s, %s, %s, %s",
		Plural(s.RulesAdded, "rule"), Plural(s.RulesRemoved, "rule"), Plural(s.SeverityChanges, "severity change"),
		Plural(s.ParameterChanges, "parameter change"), Plural(s.GoldenChanges, "golden value change"),
		Plural(s.RegoChanges, "Rego module change"))
	if d.Manifests {
		line += fmt.Sprintf("; %d of %s change verdict: %d newly denied, %d newly allowed, %d newly warned, %d no longer warned; %s",
			s.WorkloadsChanged, Plural(s.Workloads, "workload"), s.NewlyDenied, s.NewlyAllowed, s.NewlyWarned, s.NoLongerWarned,
			Plural(s.MessagesChanged, "message change"))
		if s.Errors > 0 {
			line += fmt.Sprintf("; %s could not be read or evaluated", Plural(s.Errors, "document"))
		}
	}
	return line
}

// Plural is "1 thing" or "N things" ("N policies" for a word in y).
func Plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	if strings.HasSuffix(what, "y") && !strings.HasSuffix(what, "ey") {
		return fmt.Sprintf("%d %sies", n, strings.TrimSuffix(what, "y"))
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func workload(v Verdict) string {
	name := v.Name
	if v.Namespace != "" {
		name = v.Namespace + "/" + name
	}
	return fmt.Sprintf("%s:%d %s %s", v.File, v.Line, v.Kind, name)
}

// messages are what a reader needs of a change: the new messages of a new finding, the old ones of
// a finding gone, both of a changed message.
func messages(v Verdict) []string {
	var out []string
	switch v.Change {
	case NewlyAllowed, NoLongerWarned:
		for _, m := range v.Old.Messages {
			out = append(out, "was: "+m)
		}
		for _, m := range v.New.Messages {
			out = append(out, "now: "+m)
		}
	case MessageChanged:
		for _, m := range v.Old.Messages {
			out = append(out, "- "+m)
		}
		for _, m := range v.New.Messages {
			out = append(out, "+ "+m)
		}
	default:
		out = append(out, v.New.Messages...)
	}
	return out
}

func paramLine(p ParamChange) string {
	id := p.Rule + "." + p.Parameter
	switch p.Change {
	case ParamAdded:
		return fmt.Sprintf("+ %s (default %s)", id, value(p.New))
	case ParamRemoved:
		return fmt.Sprintf("- %s (default was %s)", id, value(p.Old))
	case ParamSchema:
		return fmt.Sprintf("~ %s: schema %s -> %s", id, value(p.Old), value(p.New))
	}
	return fmt.Sprintf("~ %s: default in %s %s -> %s", id, p.Profile, value(p.Old), value(p.New))
}

func profiles(m map[string]string) string {
	if len(m) == 0 {
		return "in no profile"
	}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + ": " + m[n]
	}
	return strings.Join(parts, ", ")
}

func severity(s string) string {
	if s == "" {
		return "not in profile"
	}
	return s
}

func sign(change string) string {
	switch change {
	case "added":
		return "+"
	case "removed":
		return "-"
	}
	return "~"
}

func ruleSuffix(rule string) string {
	if rule == "" {
		return ""
	}
	return " (" + rule + ")"
}

func value(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func code(s string) string {
	if s == "" {
		return ""
	}
	return "`" + s + "`"
}

func mdValue(v any) string {
	if v == nil {
		return ""
	}
	return "`" + strings.ReplaceAll(value(v), "`", "'") + "`"
}

// md escapes text for a Markdown table cell.
func md(s string) string {
	r := strings.NewReplacer("|", `\|`, "\n", "<br>", "<", "&lt;", ">", "&gt;")
	return r.Replace(s)
}
