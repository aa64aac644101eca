// Package fieldvalue is the check kind "field-value": one field must equal a value, must not equal
// one, must be set, or must be one of a list; read in the pod spec, in the pod metadata, or as the
// effective value of an inheritable securityContext field of each container (the container's value,
// else the pod's).
package fieldvalue

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/hpguard/hpguard/generator/checks"
	"github.com/hpguard/hpguard/generator/spec"
)

//go:embed check.rego.tmpl
var rego string

func init() {
	checks.Register(&checks.Kind{
		Name: "field-value",
		Doc:  "a field must equal a value, must not equal one, must be set, or must be one of a list: in the pod spec, the pod metadata, or as the effective value of each container",
		NewArgs: func() any {
			return &Args{}
		},
		Messages: []checks.Message{{ID: "violation", Placeholders: []checks.Placeholder{
			{Name: "field", Doc: "the field path (for an effective value, where it is set)"},
			{Name: "value", Doc: "the value found, as JSON (strings quoted; unset when absent)"},
			{Name: "container", Doc: "the container, quoted (only with set: true at effective)"},
		}}},
		Rego: rego,
		CEL:  cel,
	})
}

// Where the field is read.
const (
	AtPod       = "pod"       // path below the pod spec
	AtMetadata  = "metadata"  // path below the pod metadata
	AtEffective = "effective" // path below a container, of an inheritable field
)

// Args are the arguments of field-value. Exactly one of Equals, NotEquals, Set and OneOf is given.
type Args struct {
	// At is pod, metadata or effective.
	At string `yaml:"at"`
	// Path is the field's path below At (for effective, below the container, e.g.
	// [securityContext, runAsNonRoot]).
	Path []string `yaml:"path"`
	// Equals: the field must equal this value.
	Equals any `yaml:"equals,omitempty"`
	// NotEquals: the field must not equal this value.
	NotEquals any `yaml:"notEquals,omitempty"`
	// Set: the field must be set.
	Set bool `yaml:"set,omitempty"`
	// OneOf: the field must be one of these values.
	OneOf []any `yaml:"oneOf,omitempty"`
	// AllowUnset lets an unset field pass Equals and OneOf.
	AllowUnset bool `yaml:"allowUnset,omitempty"`
}

// Validate checks the combination of arguments.
func (a *Args) Validate(r *spec.Rule) error {
	n := 0
	for _, given := range []bool{a.Equals != nil, a.NotEquals != nil, a.Set, a.OneOf != nil} {
		if given {
			n++
		}
	}
	if n != 1 {
		return errors.New("give exactly one of equals, notEquals, set: true and oneOf")
	}
	if a.AllowUnset && (a.Set || a.NotEquals != nil) {
		return errors.New("allowUnset goes with equals or oneOf only")
	}
	if len(a.Path) == 0 {
		return errors.New("path is empty")
	}
	usesContainer := strings.Contains(r.Check.Messages["violation"], "{container}")
	switch a.At {
	case AtPod, AtMetadata:
		if usesContainer {
			return fmt.Errorf("{container} is not available at %s", a.At)
		}
	case AtEffective:
		if a.Key() == "" {
			var known []string
			for _, p := range checks.ValueFields {
				known = append(known, strings.Join(p, "."))
			}
			slices.Sort(known)
			return fmt.Errorf("path %s is not an inheritable field (one of %s)", strings.Join(a.Path, "."), strings.Join(known, ", "))
		}
		if r.Scope != spec.ScopeHostProcessPods {
			return fmt.Errorf("at: effective reads HostProcess containers, so the rule's scope must be %s", spec.ScopeHostProcessPods)
		}
		if usesContainer && !a.Set {
			return errors.New("{container} is available with set: true only (other findings of an inherited value name no container)")
		}
	default:
		return fmt.Errorf("at %q (want %s, %s or %s)", a.At, AtPod, AtMetadata, AtEffective)
	}
	return nil
}

// Key is the name of the inheritable field at Path (for at: effective), or "".
func (a *Args) Key() string { return checks.InheritableKey(a.Path) }

// hostProcessOnly reports whether the rule looks at HostProcess pods only.
func (a *Args) hostProcessOnly(r *spec.Rule) bool { return r.Scope == spec.ScopeHostProcessPods }

// RegoConditions are the Rego conditions under which value violates the check.
func (a *Args) RegoConditions() ([]string, error) {
	lit := func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	}
	var out []string
	if a.AllowUnset {
		out = append(out, "value != null")
	}
	switch {
	case a.Equals != nil:
		v, err := lit(a.Equals)
		out = append(out, "value != "+v)
		return out, err
	case a.NotEquals != nil:
		v, err := lit(a.NotEquals)
		return append(out, "value == "+v), err
	case a.Set:
		return append(out, "value == null"), nil
	default:
		v, err := lit(a.OneOf)
		return append(out, "not value in "+v), err
	}
}

// celCondition is the CEL condition under which the value v violates the check.
func (a *Args) celCondition(v string) (string, error) {
	var cond string
	switch {
	case a.Equals != nil:
		lit, err := checks.Literal(a.Equals)
		if err != nil {
			return "", err
		}
		cond = v + " != " + lit
	case a.NotEquals != nil:
		lit, err := checks.Literal(a.NotEquals)
		if err != nil {
			return "", err
		}
		cond = v + " == " + lit
	case a.Set:
		cond = v + " == null"
	default:
		lit, err := checks.Literal(a.OneOf)
		if err != nil {
			return "", err
		}
		cond = "!(" + v + " in " + lit + ")"
	}
	if a.AllowUnset {
		cond = v + " != null && " + cond
	}
	return cond, nil
}

// failsUnset reports whether an unset value violates the check.
func (a *Args) failsUnset() bool {
	return !a.AllowUnset && (a.Equals != nil || a.Set || a.OneOf != nil)
}

func cel(b *checks.CELBuilder, args any) ([]string, error) {
	a := args.(*Args)
	hp := ""
	if a.hostProcessOnly(b.Rule) {
		hp = "variables.isHostProcessPod && "
	}
	if a.At != AtEffective {
		base, prefix := "variables.podSpec", "variables.prefix"
		if a.At == AtMetadata {
			base, prefix = "variables.podMeta", "variables.metaPrefix"
		}
		cond, err := a.celCondition("v")
		if err != nil {
			return nil, err
		}
		field := prefix + " + " + checks.Lit(checks.FieldSuffix(a.Path))
		return []string{fmt.Sprintf(`[%s].filter(v, %s%s).map(v, %s)`, checks.Get(base, a.Path...), hp, cond,
			checks.Finding(field, `""`, b.Msg("violation", map[string]string{"field": field, "value": checks.Show("v")})))}, nil
	}
	key := a.Key()
	unset := fmt.Sprintf(`variables.hpContainers.filter(c, %s == null).map(c, %s)`, checks.Effective("c", key),
		checks.Finding(checks.SourceField("c", key), "c.name", b.Msg("violation", map[string]string{
			"field": checks.SourceField("c", key), "value": checks.Lit("unset"), "container": "strings.quote(c.name)"})))
	if a.Set {
		return []string{unset}, nil
	}
	cond, err := a.celCondition("x.value")
	if err != nil {
		return nil, err
	}
	groups := []string{fmt.Sprintf(`(%s).filter(x, %s).map(x, %s)`, checks.Sourced(key), cond,
		checks.Finding("x.field", "x.container", b.Msg("violation", map[string]string{"field": "x.field", "value": checks.ShowScalar("x.value")})))}
	if a.failsUnset() {
		groups = append(groups, unset)
	}
	return groups, nil
}
