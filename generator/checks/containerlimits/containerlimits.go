// Package containerlimits is the check kind "container-limits": every HostProcess container of the
// listed container lists sets a limit for each resource of the rule's parameter resources.
package containerlimits

import (
	_ "embed"
	"fmt"

	"github.com/hpguard/hpguard/generator/checks"
)

//go:embed check.rego.tmpl
var rego string

func init() {
	checks.Register(&checks.Kind{
		Name:    "container-limits",
		Doc:     "every HostProcess container of the listed container lists limits each resource of the parameter resources",
		NewArgs: func() any { return &Args{} },
		Messages: []checks.Message{{ID: "missing", Placeholders: []checks.Placeholder{
			{Name: "container", Doc: "the container, quoted"}, {Name: "resource", Doc: "the resource without a limit"},
			{Name: "field", Doc: "the limit's field path"}}}},
		Rego: rego,
		CEL:  cel,
	})
}

// Args are the arguments of container-limits.
type Args struct {
	// Lists are the container lists checked (ephemeral containers cannot set resources).
	Lists []string `yaml:"lists"`
}

func cel(b *checks.CELBuilder, args any) ([]string, error) {
	a := args.(*Args)
	field := `c.path + ".resources.limits." + r`
	limits := checks.Get("c.spec", "resources", "limits")
	return []string{"@" + fmt.Sprintf(`variables.hpContainers.filter(c, c.list in %s).map(c, variables.param_resources.filter(r, !(type(%s) == map && r in %s && %s[r] != null)).map(r, %s))`,
		checks.StrList(a.Lists), limits, limits, limits,
		checks.Finding(field, "c.name", b.Msg("missing", map[string]string{"container": "strings.quote(c.name)", "resource": "r", "field": field})))}, nil
}
