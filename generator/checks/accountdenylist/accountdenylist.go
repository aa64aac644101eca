// Package accountdenylist is the check kind "account-denylist": the effective runAsUserName of a
// HostProcess container is none of the listed accounts, unless a boolean parameter opts in.
package accountdenylist

import (
	_ "embed"
	"fmt"

	"github.com/hpguard/hpguard/generator/checks"
	"github.com/hpguard/hpguard/generator/spec"
)

//go:embed check.rego.tmpl
var rego string

func init() {
	checks.Register(&checks.Kind{
		Name:    "account-denylist",
		Doc:     "the effective runAsUserName is none of the listed accounts (names compared as a deny-list), unless a parameter opts in",
		NewArgs: func() any { return &Args{} },
		Messages: []checks.Message{{ID: "denied", Placeholders: []checks.Placeholder{
			{Name: "field", Doc: "where the name is set"}, {Name: "value", Doc: "the name, quoted"}}}},
		Rego: rego,
		CEL:  cel,
	})
}

// Args are the arguments of account-denylist.
type Args struct {
	// Domain and Accounts are the denied names (DOMAIN\account).
	Domain   string   `yaml:"domain"`
	Accounts []string `yaml:"accounts"`
	// OptIn names the rule's boolean parameter that allows the accounts.
	OptIn string `yaml:"optIn"`
}

// Validate checks that OptIn is a boolean parameter of the rule.
func (a *Args) Validate(r *spec.Rule) error {
	for _, p := range r.Parameters {
		if p.Name == a.OptIn {
			if p.Schema["type"] != "boolean" {
				return fmt.Errorf("optIn parameter %q must be a boolean", a.OptIn)
			}
			return nil
		}
	}
	return fmt.Errorf("optIn %q is not a parameter of the rule", a.OptIn)
}

func cel(b *checks.CELBuilder, args any) ([]string, error) {
	a := args.(*Args)
	var names []string
	for _, acc := range a.Accounts {
		names = append(names, a.Domain+`\`+acc)
	}
	return []string{fmt.Sprintf(`variables.param_%s == true ? [] : (%s).filter(x, type(x.value) == string && x.value.matches(%s)).map(x, %s)`,
		a.OptIn, checks.Sourced("runAsUserName"), checks.Lit(b.Names.DenyPattern(names, false, false)),
		checks.Finding("x.field", "x.container", b.Msg("denied", map[string]string{"field": "x.field", "value": checks.ShowString("x.value")})))}, nil
}
