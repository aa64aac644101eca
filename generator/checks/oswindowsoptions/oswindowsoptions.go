// Package oswindowsoptions is the check kind "os-windows-options": spec.os.name is one the API
// server accepts, and a pod whose os is linux sets no windowsOptions.
package oswindowsoptions

import (
	_ "embed"
	"fmt"

	"github.com/hpguard/hpguard/generator/checks"
)

//go:embed check.rego.tmpl
var rego string

func init() {
	field := checks.Placeholder{Name: "field", Doc: "the field path"}
	pod := checks.Placeholder{Name: "pod", Doc: "the pod spec's path, e.g. spec.template.spec"}
	checks.Register(&checks.Kind{
		Name:    "os-windows-options",
		Doc:     "spec.os.name is one the API server accepts; a linux pod sets no windowsOptions",
		NewArgs: func() any { return &Args{} },
		Messages: []checks.Message{
			{ID: "invalid-name", Placeholders: []checks.Placeholder{field, {Name: "value", Doc: "the name found"}, pod}},
			{ID: "linux-windows-options", Placeholders: []checks.Placeholder{field, pod}},
		},
		Rego: rego,
		CEL:  cel,
	})
}

// Args are the arguments of os-windows-options.
type Args struct {
	// ValidNames are the values of spec.os.name the API server accepts.
	ValidNames []string `yaml:"validNames"`
}

func cel(b *checks.CELBuilder, args any) ([]string, error) {
	a := args.(*Args)
	osName := checks.Get("variables.podSpec", "os", "name")
	name := checks.GetOr("os", `""`, "name")
	linux := func(field string) string {
		return b.Msg("linux-windows-options", map[string]string{"field": field, "pod": "variables.prefix"})
	}
	return []string{
		fmt.Sprintf(`[%s].filter(os, os != null && type(os) == map && !((%s) in %s)).map(os, %s)`, checks.Get("variables.podSpec", "os"), name, checks.StrList(a.ValidNames),
			checks.Finding(`variables.prefix + ".os.name"`, `""`, b.Msg("invalid-name", map[string]string{"field": `variables.prefix + ".os.name"`, "value": checks.Show(name), "pod": "variables.prefix"}))),
		fmt.Sprintf(`%s == "linux" && %s != null ? [%s] : []`, osName, checks.Get("variables.podSpec", "securityContext", "windowsOptions"),
			checks.Finding(`variables.prefix + ".securityContext.windowsOptions"`, `""`, linux(`variables.prefix + ".securityContext.windowsOptions"`))),
		fmt.Sprintf(`%s == "linux" ? variables.containers.filter(c, %s != null).map(c, %s) : []`, osName, checks.Get("c.spec", "securityContext", "windowsOptions"),
			checks.Finding(`c.path + ".securityContext.windowsOptions"`, "c.name", linux(`c.path + ".securityContext.windowsOptions"`))),
	}, nil
}
