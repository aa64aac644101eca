// Package valuesagree is the check kind "values-agree": an inheritable securityContext field set
// both on the pod and on a container has the same value in both.
package valuesagree

import (
	_ "embed"
	"fmt"
	"strings"

	"github.com/hpguard/hpguard/generator/checks"
	"github.com/hpguard/hpguard/generator/spec"
)

//go:embed check.rego.tmpl
var rego string

func init() {
	checks.Register(&checks.Kind{
		Name:    "values-agree",
		Doc:     "a boolean inheritable field set on the pod and on a container has the same value in both",
		NewArgs: func() any { return &Args{} },
		Messages: []checks.Message{{ID: "differ", Placeholders: []checks.Placeholder{
			{Name: "field", Doc: "the container's field path"}, {Name: "value", Doc: "the container's value"},
			{Name: "podField", Doc: "the pod's field path"}, {Name: "podValue", Doc: "the pod's value"}}}},
		Rego: rego,
		CEL:  cel,
	})
}

// Args are the arguments of values-agree.
type Args struct {
	// Path is the inheritable field below a container, e.g. [securityContext, windowsOptions, hostProcess].
	Path []string `yaml:"path"`
}

// Key is the name of the inheritable field at Path, or "".
func (a *Args) Key() string { return checks.InheritableKey(a.Path) }

// Validate checks that Path is an inheritable field.
func (a *Args) Validate(*spec.Rule) error {
	if a.Key() == "" {
		return fmt.Errorf("path %s is not an inheritable field", strings.Join(a.Path, "."))
	}
	return nil
}

func cel(b *checks.CELBuilder, args any) ([]string, error) {
	key := args.(*Args).Key()
	vf := checks.Lit("." + checks.ValueField(key))
	return []string{fmt.Sprintf(`type(variables.pod_%[1]s) == bool ? variables.containers.filter(c, type(c[%[2]s]) == bool && c[%[2]s] != variables.pod_%[1]s).map(c, %[3]s) : []`,
		key, checks.Lit(key), checks.Finding("c.path + "+vf, "c.name", b.Msg("differ", map[string]string{
			"field": "c.path + " + vf, "value": fmt.Sprintf("string(c[%s])", checks.Lit(key)),
			"podField": "variables.prefix + " + vf, "podValue": fmt.Sprintf("string(variables.pod_%s)", key)})))}, nil
}
