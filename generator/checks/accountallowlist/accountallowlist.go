// Package accountallowlist is the check kind "account-allowlist": the effective runAsUserName of
// every HostProcess container is an allowed service account of a domain, or an allowed local group
// that is not a built-in privileged group.
package accountallowlist

import (
	_ "embed"
	"fmt"

	"github.com/hpguard/hpguard/generator/checks"
)

//go:embed check.rego.tmpl
var rego string

func init() {
	checks.Register(&checks.Kind{
		Name:    "account-allowlist",
		Doc:     "the effective runAsUserName is an allowed service account, or an allowed local group that is not a built-in privileged group",
		NewArgs: func() any { return &Args{} },
		Messages: []checks.Message{{ID: "not-allowed", Placeholders: []checks.Placeholder{
			{Name: "field", Doc: "where the name is set"}, {Name: "value", Doc: "the name, quoted"},
			{Name: "reason", Doc: "why it is refused, e.g. local group \"x\" is not in allowedLocalGroups"}}}},
		Rego: rego,
		CEL:  cel,
	})
}

// Args are the arguments of account-allowlist. The rule's parameters allowedServiceAccounts and
// allowedLocalGroups hold the allowed names.
type Args struct {
	// ServiceDomain is the domain of the service accounts (compared exactly).
	ServiceDomain string `yaml:"serviceDomain"`
	// NeverAllowedGroups are built-in privileged groups, refused even when listed.
	NeverAllowedGroups []string `yaml:"neverAllowedGroups"`
}

func cel(b *checks.CELBuilder, args any) ([]string, error) {
	a := args.(*Args)
	domain := a.ServiceDomain
	// Allow-lists fold ASCII letters only (lowerAscii); the never-allowed groups are a deny-list
	// pattern (nameComparison).
	never := checks.Lit(b.Names.DenyPattern(a.NeverAllowedGroups, false, false))
	b.Add("allowedAccounts", `variables.param_allowedServiceAccounts.map(a, a.lowerAscii())`)
	b.Add("allowedGroups", `variables.param_allowedLocalGroups.map(a, a.lowerAscii())`)
	b.Add("cands", fmt.Sprintf(`(%s).filter(x, type(x.value) == string)`, checks.Sourced("runAsUserName")))
	allowed := fmt.Sprintf(`((size(x.value.split("\\")) == 2 && x.value.split("\\")[0] == %s && x.value.split("\\")[1].lowerAscii() in variables.allowedAccounts) || (!x.value.contains("\\") && !x.value.matches(%s) && x.value.lowerAscii() in variables.allowedGroups))`, checks.Lit(domain), never)
	reason := fmt.Sprintf(`(!x.value.contains("\\") && x.value.matches(`+never+`) ? %s : !x.value.contains("\\") ? "local group " + strings.quote(x.value) + " is not in allowedLocalGroups" : size(x.value.split("\\")) == 2 && x.value.split("\\")[0] != %s ? %s : x.value.matches(%s) ? %s : %s)`,
		checks.Lit("it is a built-in privileged group, which is never allowed"), checks.Lit(domain), checks.Lit(fmt.Sprintf("the domain must be exactly %q (case-sensitive)", domain)),
		checks.Lit(`[^\x00-\x7f]`), checks.Lit("the account is not one of the allowed service accounts (it has characters outside ASCII, which never match one: write the account in ASCII)"),
		checks.Lit("the account is not one of the allowed service accounts"))
	return []string{fmt.Sprintf(`variables.cands.filter(x, !%s).map(x, %s)`, allowed,
		checks.Finding("x.field", "x.container", b.Msg("not-allowed", map[string]string{"field": "x.field", "value": checks.ShowString("x.value"), "reason": reason})))}, nil
}
