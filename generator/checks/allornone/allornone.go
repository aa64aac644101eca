// Package allornone is the check kind "all-or-none": when one container of a pod is a HostProcess
// container, all are.
package allornone

import (
	_ "embed"
	"fmt"

	"github.com/hpguard/hpguard/generator/checks"
)

//go:embed check.rego.tmpl
var rego string

func init() {
	checks.Register(&checks.Kind{
		Name:    "all-or-none",
		Doc:     "when one container of a pod is a HostProcess container, all are",
		NewArgs: func() any { return &Args{} },
		Messages: []checks.Message{{ID: "mixed", Placeholders: []checks.Placeholder{
			{Name: "container", Doc: "the container that is not a HostProcess container, quoted"},
			{Name: "field", Doc: "its hostProcess field path"}, {Name: "value", Doc: "its hostProcess value"}}}},
		Rego: rego,
		CEL:  cel,
	})
}

// Args are the arguments of all-or-none (none).
type Args struct{}

func cel(b *checks.CELBuilder, _ any) ([]string, error) {
	field := "c.path + " + checks.Lit("."+checks.ValueField("hostProcess"))
	return []string{fmt.Sprintf(`variables.isHostProcessPod ? variables.containers.filter(c, !c.isHostProcess).map(c, %s) : []`,
		checks.Finding(field, "c.name", b.Msg("mixed", map[string]string{"container": "strings.quote(c.name)", "field": field, "value": checks.ShowScalar("c.hostProcess")})))}, nil
}
