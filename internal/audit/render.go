package audit

import (
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/yuin/goldmark"

	"github.com/hpguard/hpguard/internal/bundle"
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
		"add":      func(a, b int) int { return a + b },
		"mul":      func(a, b int) int { return a * b },
		"mdEsc":    func(s string) string { return strings.NewReplacer("|", "\\|", "\n", " ").Replace(s) },
		"markdown": markdownHTML,
	}
}

// markdownHTML renders a rule text's Markdown (code spans, emphasis, links, lists) as HTML. Raw
// HTML in the text is not passed through (goldmark's default), so the result is safe to embed.
func markdownHTML(s string) template.HTML {
	var b strings.Builder
	if err := goldmark.Convert([]byte(s), &b); err != nil {
		return template.HTML(template.HTMLEscapeString(s))
	}
	return template.HTML(b.String()) //nolint:gosec // goldmark escapes text and drops raw HTML
}

// Verdict is the report's headline: green only when every engine passed every golden case and
// the bundle's signature was verified with a key.
type Verdict struct {
	Class, Headline, Detail string
}

// Verdict judges the coverage and the bundle's signature together.
func (a *Audit) Verdict() Verdict {
	if !a.CoverageOK {
		return Verdict{"bad", "coverage gaps", "Some engine fails some golden case (see the coverage matrix)."}
	}
	if a.Bundle == nil {
		return Verdict{"caution", "coverage passes, not a signed bundle", "The policy audited is not a bundle, so nothing vouches for its origin: audit the signed bundle you deploy (--bundle FILE --verification-key KEY)."}
	}
	switch a.Bundle.Signature.Status {
	case bundle.SigVerified:
		return Verdict{"ok", "all green", "Every engine passed every golden case and the bundle's signature was verified."}
	case bundle.SigUnsigned:
		return Verdict{"caution", "coverage passes, bundle unsigned", "Every engine passed every golden case, but the bundle is not signed: nothing vouches for its origin (sign it with hpguard bundle build --signing-key)."}
	case bundle.SigSigned:
		return Verdict{"caution", "coverage passes, signature not verified", "The bundle is signed but no key was given to verify it: report --bundle FILE --verification-key KEY."}
	default:
		return Verdict{"bad", "signature " + a.Bundle.Signature.Status, "The bundle's signature does not verify: do not deploy it."}
	}
}

// GeneratedText is the report's time in RFC 3339 (UTC), or "unknown".
func (a *Audit) GeneratedText() string {
	if a.Generated.IsZero() {
		return "unknown"
	}
	return a.Generated.UTC().Format(time.RFC3339)
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
