package audit

import (
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"strings"
	texttemplate "text/template"
)

//go:embed templates/*
var templateFS embed.FS

func funcs() map[string]any {
	return map[string]any{
		"json": func(v any) string {
			if v == nil {
				return ""
			}
			b, _ := json.Marshal(v)
			return string(b)
		},
		"join": strings.Join,
		"sev": func(m map[string]string, p string) string {
			if s, ok := m[p]; ok {
				return s
			}
			return "off"
		},
		"short": func(s string) string {
			if len(s) > 16 {
				return s[:16] + "…"
			}
			return s
		},
		"pct": func(n, max int) int {
			if max == 0 {
				return 0
			}
			return n * 100 / max
		},
		"maxCount": func(cs []Count) int {
			m := 0
			for _, c := range cs {
				m = max(m, c.Count)
			}
			return m
		},
		"add":   func(a, b int) int { return a + b },
		"mul":   func(a, b int) int { return a * b },
		"mdEsc": func(s string) string { return strings.NewReplacer("|", "\\|", "\n", " ").Replace(s) },
	}
}

// HTML writes the report as one self-contained HTML page (inline CSS and SVG, no scripts).
func (a *Audit) HTML(w io.Writer) error {
	t, err := template.New("report.html.tmpl").Funcs(funcs()).ParseFS(templateFS, "templates/report.html.tmpl")
	if err != nil {
		return err
	}
	return t.Execute(w, a)
}

// Markdown writes the report as Markdown.
func (a *Audit) Markdown(w io.Writer) error {
	t, err := texttemplate.New("report.md.tmpl").Funcs(funcs()).ParseFS(templateFS, "templates/report.md.tmpl")
	if err != nil {
		return err
	}
	return t.Execute(w, a)
}

// Checked counts the golden-case checks of all engines and those that passed.
func (a *Audit) Checked() (checks, passed int) {
	for _, rc := range a.Coverage {
		for _, e := range rc.Engines {
			checks += e.Checks
			passed += e.Passed()
		}
	}
	return checks, passed
}

// Summary is a one-line description of the coverage.
func (a *Audit) Summary() string {
	checks, passed := a.Checked()
	cases := 0
	for _, rc := range a.Coverage {
		cases += rc.Cases
	}
	return fmt.Sprintf("%d rules, %d golden cases, engines %s: %d of %d checks passed", len(a.Coverage), cases, strings.Join(a.EngineTitles, ", "), passed, checks)
}
