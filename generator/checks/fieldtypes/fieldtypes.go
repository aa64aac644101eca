// Package fieldtypes is the check kind "field-types": fields have the JSON types the API server
// decodes them into, maps such as annotations hold values of their type, and container lists hold
// objects.
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
		Doc:     "fields have the JSON types the API server decodes them into; maps such as annotations hold values of their type; container lists hold objects",
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
	// Metadata lists fields below the pod metadata and their types.
	Metadata []Field `yaml:"metadata"`
}

// Field is a field path and the JSON type it must have.
type Field struct {
	Path []string `yaml:"path"`
	// Type is boolean, string, array or object.
	Type string `yaml:"type"`
	// Values, for an object that is a map (annotations, labels), is the type of each of its values;
	// a null value is allowed (it decodes as the type's zero value). A map's first wrong value in key
	// order is reported.
	Values string `yaml:"values,omitempty"`
}

// Validate checks the types.
func (a *Args) Validate(*spec.Rule) error {
	for _, f := range append(append(append([]Field{}, a.Pod...), a.Container...), a.Metadata...) {
		if _, err := checks.CELTypeName(f.Type); err != nil {
			return err
		}
		if len(f.Path) == 0 {
			return fmt.Errorf("a field has an empty path")
		}
	}
	for _, f := range append(append([]Field{}, a.Pod...), a.Container...) {
		if f.Values != "" {
			return fmt.Errorf("field %s: values is only read below metadata", strings.Join(f.Path, "."))
		}
	}
	for _, f := range a.Metadata {
		if f.Values == "" {
			continue
		}
		if f.Type != "object" {
			return fmt.Errorf("field %s: values needs type object, not %q", strings.Join(f.Path, "."), f.Type)
		}
		if _, err := checks.CELTypeName(f.Values); err != nil {
			return err
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
	for _, f := range a.Metadata {
		t, _ := checks.CELTypeName(f.Type)
		m := checks.Get("variables.podMeta", f.Path...)
		field := "variables.metaPrefix + " + checks.Lit(checks.FieldSuffix(f.Path))
		groups = append(groups, fmt.Sprintf(`[%s].filter(v, v != null && type(v) != %s).map(v, %s)`, m, t,
			checks.Finding(field, `""`, b.Msg("type", map[string]string{"field": field, "value": checks.Show("v"), "type": checks.Lit(f.Type)}))))
		if f.Values == "" {
			continue
		}
		vt, _ := checks.CELTypeName(f.Values)
		entry := fmt.Sprintf(`variables.metaPrefix + %s + (k.matches("[[:cntrl:]]") ? strings.quote(k) : k) + "]"`,
			checks.Lit(checks.FieldSuffix(f.Path)+"["))
		// One finding per map, at its first wrong value in key order: a map's iteration order is not
		// fixed, the findings are joined into the policy's message, and sorting all the wrong keys
		// would cost the square of the map's size in the API server's estimate (min() is linear).
		bad := fmt.Sprintf(`%[1]s.filter(k, %[1]s[k] != null && type(%[1]s[k]) != %[2]s)`, m, vt)
		groups = append(groups, fmt.Sprintf(`(type(%[1]s) == map && size(%[2]s) > 0 ? [%[2]s.min()].map(k, %[3]s) : [])`, m, bad,
			checks.Finding(entry, `""`, b.Msg("type", map[string]string{"field": entry, "value": checks.ShowScalar(m + "[k]"), "type": checks.Lit(f.Values)}))))
	}
	for _, l := range Lists {
		field := fmt.Sprintf(`variables.prefix + %s + string(i) + "]"`, checks.Lit("."+l+"["))
		groups = append(groups, fmt.Sprintf(`(%s in variables.podSpec && type(variables.podSpec[%s]) == list ? variables.podSpec[%s].transformList(i, item, type(item) != map, %s) : [])`,
			checks.Lit(l), checks.Lit(l), checks.Lit(l), checks.Finding(field, `""`, b.Msg("item", map[string]string{"field": field, "value": checks.ShowScalar("item")}))))
	}
	return groups, nil
}
