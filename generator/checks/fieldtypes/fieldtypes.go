// Package fieldtypes is the check kind "field-types": fields have the JSON types the API server
// decodes them into, and container lists hold objects.
package fieldtypes

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
		Name:    "field-types",
		Doc:     "fields have the JSON types the API server decodes them into; container lists hold objects",
		NewArgs: func() any { return &Args{} },
		Messages: []checks.Message{
			{ID: "type", Placeholders: []checks.Placeholder{
				{Name: "field", Doc: "the field path"}, {Name: "value", Doc: "the value found, as JSON"}, {Name: "type", Doc: "the type the field must have"}}},
			{ID: "item", Placeholders: []checks.Placeholder{
				{Name: "field", Doc: "the list item's path"}, {Name: "value", Doc: "the item, as JSON"}}},
		},
		Rego: rego,
		CEL:  cel,
	})
}

// Args are the arguments of field-types.
type Args struct {
	// Pod lists fields below the pod spec and their types.
	Pod []Field `yaml:"pod"`
	// Container lists fields below each container and their types.
	Container []Field `yaml:"container"`
}

// Field is a field path and the JSON type it must have.
type Field struct {
	Path []string `yaml:"path"`
	// Type is boolean, string, array or object.
	Type string `yaml:"type"`
}

// Validate checks the types.
func (a *Args) Validate(*spec.Rule) error {
	for _, f := range append(append([]Field{}, a.Pod...), a.Container...) {
		if _, err := checks.CELTypeName(f.Type); err != nil {
			return err
		}
		if len(f.Path) == 0 {
			return fmt.Errorf("a field has an empty path")
		}
	}
	return nil
}

// Lists are the container lists of a pod spec.
var Lists = []string{"initContainers", "containers", "ephemeralContainers"}

func cel(b *checks.CELBuilder, args any) ([]string, error) {
	a := args.(*Args)
	var groups []string
	for _, f := range a.Pod {
		t, _ := checks.CELTypeName(f.Type)
		field := "variables.prefix + " + checks.Lit("."+strings.Join(f.Path, "."))
		groups = append(groups, fmt.Sprintf(`[%s].filter(v, v != null && type(v) != %s).map(v, %s)`, checks.Get("variables.podSpec", f.Path...), t,
			checks.Finding(field, `""`, b.Msg("type", map[string]string{"field": field, "value": checks.Show("v"), "type": checks.Lit(f.Type)}))))
	}
	for _, f := range a.Container {
		t, _ := checks.CELTypeName(f.Type)
		v := checks.Get("c.spec", f.Path...)
		field := "c.path + " + checks.Lit("."+strings.Join(f.Path, "."))
		groups = append(groups, fmt.Sprintf(`variables.containers.filter(c, %s != null && type(%s) != %s).map(c, %s)`, v, v, t,
			checks.Finding(field, "c.name", b.Msg("type", map[string]string{"field": field, "value": checks.ShowScalar(v), "type": checks.Lit(f.Type)}))))
	}
	for _, l := range Lists {
		field := fmt.Sprintf(`variables.prefix + %s + string(i) + "]"`, checks.Lit("."+l+"["))
		groups = append(groups, fmt.Sprintf(`(%s in variables.podSpec && type(variables.podSpec[%s]) == list ? variables.podSpec[%s].transformList(i, item, type(item) != map, %s) : [])`,
			checks.Lit(l), checks.Lit(l), checks.Lit(l), checks.Finding(field, `""`, b.Msg("item", map[string]string{"field": field, "value": checks.ShowScalar("item")}))))
	}
	return groups, nil
}
