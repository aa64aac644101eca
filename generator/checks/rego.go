package checks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"text/template"

	"github.com/hpguard/hpguard/generator/spec"
	"github.com/hpguard/hpguard/internal/ruleset"
)

// RegoData is what a kind's Rego template is executed with.
type RegoData struct {
	// Rule is the rule being rendered.
	Rule *spec.Rule
	// Args is the rule's decoded arguments (a pointer to the kind's argument struct).
	Args any
	// Names is the rule set's name comparison (for deny-list patterns).
	Names *ruleset.NameComparison
}

// RenderRego renders the findings of rule r (resolved) in Rego.
func RenderRego(r *spec.Rule, names *ruleset.NameComparison) (string, error) {
	k := Lookup(r.Check.Kind)
	if k == nil || r.Check.Typed == nil {
		return "", fmt.Errorf("rule %s: check kind %q not resolved", r.ID, r.Check.Kind)
	}
	t, err := template.New(k.Name).Funcs(regoFuncs(r)).Parse(k.Rego)
	if err != nil {
		return "", fmt.Errorf("check kind %s: %w", k.Name, err)
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, RegoData{Rule: r, Args: r.Check.Typed, Names: names}); err != nil {
		return "", fmt.Errorf("rule %s: %w", r.ID, err)
	}
	return buf.String(), nil
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// FieldSuffix renders field path keys as they appear in a finding's field: ".a.b" for identifiers,
// "[key]" for other keys (an annotation key, a label).
func FieldSuffix(keys []string) string {
	var b strings.Builder
	for _, k := range keys {
		if identRE.MatchString(k) {
			b.WriteString("." + k)
		} else {
			b.WriteString("[" + k + "]")
		}
	}
	return b.String()
}

func regoFuncs(r *spec.Rule) template.FuncMap {
	return template.FuncMap{
		// rego renders a value as a Rego (JSON) literal.
		"rego": func(v any) (string, error) {
			if s, ok := v.(string); ok {
				return regoString(s), nil
			}
			b, err := json.Marshal(v)
			return string(b), err
		},
		// join renders a field path as "a.b.c".
		"join": func(path []string) string { return strings.Join(path, ".") },
		// field renders a field path as in a finding (FieldSuffix).
		"field": FieldSuffix,
		// refpath renders a field path as a Rego reference suffix: ".a.b.c", or ["a-b"] for keys
		// that are not identifiers.
		"refpath": func(path []string) string {
			var b strings.Builder
			for _, k := range path {
				if identRE.MatchString(k) {
					b.WriteString("." + k)
				} else {
					b.WriteString("[" + regoString(k) + "]")
				}
			}
			return b.String()
		},
		// qualify renders DOMAIN\account for each account.
		"qualify": func(domain string, accounts []string) []string {
			out := make([]string, len(accounts))
			for i, a := range accounts {
				out[i] = domain + `\` + a
			}
			return out
		},
		// last is the last key of a field path.
		"last": func(path []string) string {
			if len(path) == 0 {
				return ""
			}
			return path[len(path)-1]
		},
		// msg renders the rule's message id as a Rego string expression; the other arguments are
		// pairs of a placeholder name and the Rego expression (a string) it stands for.
		"msg": func(id string, pairs ...string) (string, error) {
			text, ok := r.Check.Messages[id]
			if !ok {
				return "", fmt.Errorf("rule %s has no message %q", r.ID, id)
			}
			if len(pairs)%2 != 0 {
				return "", fmt.Errorf("msg %q: odd number of placeholder arguments", id)
			}
			values := map[string]string{}
			for i := 0; i < len(pairs); i += 2 {
				values[pairs[i]] = pairs[i+1]
			}
			return regoMessage(text, values)
		},
	}
}
