// Package usernameformat is the check kind "user-name-format": every runAsUserName that is set
// passes the API server's format checks, in the order it makes them.
package usernameformat

import (
	_ "embed"
	"fmt"
	"strconv"

	"github.com/hpguard/hpguard/generator/checks"
)

//go:embed check.rego.tmpl
var rego string

func init() {
	checks.Register(&checks.Kind{
		Name:    "user-name-format",
		Doc:     "every runAsUserName that is set passes the API server's format checks",
		NewArgs: func() any { return &Args{} },
		Messages: []checks.Message{{ID: "invalid", Placeholders: []checks.Placeholder{
			{Name: "field", Doc: "the field path"}, {Name: "value", Doc: "the name, quoted"},
			{Name: "reason", Doc: "the first format check it fails, e.g. \"its user part is empty\""}}}},
		Rego: rego,
		CEL:  cel,
	})
}

// Args are the arguments of user-name-format: the API server's limits and patterns.
type Args struct {
	MaxDomainBytes        int    `yaml:"maxDomainBytes"`
	MaxUserBytes          int    `yaml:"maxUserBytes"`
	NetbiosPattern        string `yaml:"netbiosPattern"`
	DNSPattern            string `yaml:"dnsPattern"`
	InvalidUserCharacters string `yaml:"invalidUserCharacters"`
	OnlyDotsAndSpaces     string `yaml:"onlyDotsAndSpaces"`
}

func cel(b *checks.CELBuilder, args any) ([]string, error) {
	a := args.(*Args)
	vf := checks.Lit("." + checks.ValueField("runAsUserName"))
	b.Add("locations", fmt.Sprintf(`(type(variables.pod_runAsUserName) == string ? [{"value": dyn(variables.pod_runAsUserName), "field": dyn(variables.prefix + %[1]s), "container": dyn("")}] : []) + variables.containers.filter(c, type(c.runAsUserName) == string).map(c, {"value": dyn(c.runAsUserName), "field": dyn(c.path + %[1]s), "container": dyn(c.name)})`, vf))
	b.Add("names", `variables.locations.filter(l, l.value != "" && !l.value.matches("[[:cntrl:]]") && size(l.value.split("\\")) <= 2).map(l, {"loc": dyn(l), "hasDomain": dyn(size(l.value.split("\\")) == 2), "domain": dyn(size(l.value.split("\\")) == 2 ? l.value.split("\\")[0] : ""), "user": dyn(size(l.value.split("\\")) == 2 ? l.value.split("\\")[1] : l.value)})`)
	msg := func(loc, reason string) string {
		return checks.Finding(loc+".field", loc+".container", b.Msg("invalid", map[string]string{"field": loc + ".field", "value": checks.ShowString(loc + ".value"), "reason": reason}))
	}
	maxDomain, maxUser := strconv.Itoa(a.MaxDomainBytes), strconv.Itoa(a.MaxUserBytes)
	byLoc := func(cond, reason string) string {
		return fmt.Sprintf(`variables.locations.filter(l, %s).map(l, %s)`, cond, msg("l", checks.Lit(reason)))
	}
	byName := func(cond, reason string) string {
		return fmt.Sprintf(`variables.names.filter(n, %s).map(n, %s)`, cond, msg("n.loc", checks.Lit(reason)))
	}
	return []string{
		byLoc(`l.value == ""`, "it is empty"),
		byLoc(`l.value.matches("[[:cntrl:]]")`, "it contains control characters"),
		byLoc(`!l.value.matches("[[:cntrl:]]") && size(l.value.split("\\")) > 2`, "it contains more than one backslash"),
		byName(`n.hasDomain && size(bytes(n.domain)) > `+maxDomain, "its domain is longer than "+maxDomain+" bytes"),
		byName(fmt.Sprintf(`n.hasDomain && !n.domain.matches(%s) && !n.domain.matches(%s)`, checks.Lit(a.NetbiosPattern), checks.Lit(a.DNSPattern)), "its domain is neither a NetBIOS name nor a DNS name"),
		byName(`n.user == ""`, "its user part is empty"),
		byName(`size(bytes(n.user)) > `+maxUser, "its user part is longer than "+maxUser+" bytes"),
		byName(fmt.Sprintf(`n.user.matches(%s)`, checks.Lit(a.OnlyDotsAndSpaces)), "its user part is only periods or spaces"),
		byName(fmt.Sprintf(`n.user.matches(%s)`, checks.Lit(a.InvalidUserCharacters)), `its user part contains one of " / \ : ; | = , + * ? < > @ [ ]`),
	}, nil
}
