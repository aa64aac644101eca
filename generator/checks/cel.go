package checks

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/hpguard/hpguard/generator/spec"
	"github.com/hpguard/hpguard/internal/ruleset"
)

// CELVariable is a named CEL expression (a ValidatingAdmissionPolicy variable; variables.<name> in
// later expressions).
type CELVariable struct {
	Name       string `json:"name"`
	Expression string `json:"expression"`
}

// CELBuilder collects the CEL variables of a rule. The variables every rule has (the pod spec and
// metadata, the containers with their effective values, the parameters as variables.param_<name>)
// are added before a kind's CEL function runs; the kind adds its own with Add and returns its
// finding groups: each a CEL list of Finding maps, or, with a leading "@", a list of such lists.
type CELBuilder struct {
	// Rule is the rule being compiled.
	Rule *spec.Rule
	// Names is the rule set's name comparison (for deny-list patterns).
	Names ruleset.NameComparison
	vars  []CELVariable
	err   error
}

// Add appends a variable.
func (b *CELBuilder) Add(name, expr string) { b.vars = append(b.vars, CELVariable{name, expr}) }

// Variables returns the variables added so far.
func (b *CELBuilder) Variables() []CELVariable { return b.vars }

// Msg renders the rule's message id as a CEL string expression; values maps each placeholder to a
// CEL expression of type string.
func (b *CELBuilder) Msg(id string, values map[string]string) string {
	text, ok := b.Rule.Check.Messages[id]
	if !ok {
		if b.err == nil {
			b.err = fmt.Errorf("rule %s has no message %q", b.Rule.ID, id)
		}
		return `""`
	}
	s, err := celMessage(text, values)
	if err != nil && b.err == nil {
		b.err = fmt.Errorf("rule %s: %w", b.Rule.ID, err)
	}
	return s
}

// CompileCEL runs the rule's kind on a builder that holds the common variables.
func CompileCEL(b *CELBuilder) ([]string, error) {
	k := Lookup(b.Rule.Check.Kind)
	if k == nil || b.Rule.Check.Typed == nil {
		return nil, fmt.Errorf("rule %s: check kind %q not resolved", b.Rule.ID, b.Rule.Check.Kind)
	}
	groups, err := k.CEL(b, b.Rule.Check.Typed)
	if err != nil {
		return nil, err
	}
	return groups, b.err
}

// Lit is a CEL string literal.
func Lit(s string) string { return strconv.Quote(s) }

// Get reads keys below base, null when a step is missing or not an object (Rego's object.get).
func Get(base string, keys ...string) string {
	return GetOr(base, "null", keys...)
}

// GetOr is Get with def for a missing value.
func GetOr(base, def string, keys ...string) string {
	var conds []string
	cur := base
	for _, k := range keys {
		conds = append(conds, fmt.Sprintf("type(%s) == map", cur), fmt.Sprintf("%s in %s", Lit(k), cur))
		cur = fmt.Sprintf("%s[%s]", cur, Lit(k))
	}
	return fmt.Sprintf("((%s) ? %s : %s)", strings.Join(conds, " && "), cur, def)
}

// Show renders a value the way the Rego core.show(v) does: null as "unset", a string in quotes (escaped
// only when it holds control characters), anything else as JSON. Lists and objects are rendered one
// level deep (deeper values as "…"): deeper rendering multiplies the estimated cost.
func Show(v string) string { return showDepth(v, 1) }

// ShowScalar is Show for values inside a comprehension (over containers, volumes or list items):
// lists and objects are rendered as "[…]" and "{…}" (exact for empty ones), to bound the cost.
func ShowScalar(v string) string { return showDepth(v, 0) }

func showDepth(v string, depth int) string {
	return fmt.Sprintf(`(%[1]s == null ? "unset" : type(%[1]s) == string ? %[2]s : %[3]s)`, v, ShowString(v), celJSON(v, depth))
}

// ShowString is Show for a value known to be a string.
func ShowString(v string) string {
	return fmt.Sprintf(`(%[1]s.matches("[[:cntrl:]]") ? strings.quote(%[1]s) : "\"" + %[1]s + "\"")`, v)
}

// celJSON renders a value as JSON (json.marshal) down to depth levels of lists and objects.
func celJSON(v string, depth int) string {
	scalar := fmt.Sprintf(`%[1]s == null ? "null" : type(%[1]s) == string ? strings.quote(%[1]s) : type(%[1]s) == bool || type(%[1]s) == int || type(%[1]s) == uint || type(%[1]s) == double ? string(%[1]s) : `, v)
	if depth == 0 {
		return fmt.Sprintf(`(%s type(%s) == list ? (size(%s) == 0 ? "[]" : "[…]") : type(%s) == map ? (size(%s) == 0 ? "{}" : "{…}") : "…")`, scalar, v, v, v, v)
	}
	e, k := fmt.Sprintf("e%d", depth), fmt.Sprintf("k%d", depth)
	return fmt.Sprintf(`(%s type(%s) == list ? "[" + %s.map(%s, %s).join(",") + "]" : type(%s) == map ? "{" + %s.map(%s, %s).transformList(r, _, %s.filter(%s, size(%s.filter(j, j < %s)) == r)[0]).map(%s, strings.quote(%s) + ":" + %s).join(",") + "}" : "…")`,
		scalar, v, v, e, celJSON(e, depth-1), v, v, k, k, v, k, v, k, k, k, celJSON(v+"["+k+"]", depth-1))
}

// Literal renders a JSON-compatible Go value as a CEL literal.
func Literal(v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "null", nil
	case string:
		return Lit(x), nil
	case bool:
		return strconv.FormatBool(x), nil
	case int:
		return strconv.Itoa(x), nil
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), nil
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			p, err := Literal(e)
			if err != nil {
				return "", err
			}
			parts[i] = p
		}
		return "[" + strings.Join(parts, ", ") + "]", nil
	case []string:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = Lit(e)
		}
		return "[" + strings.Join(parts, ", ") + "]", nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			p, err := Literal(x[k])
			if err != nil {
				return "", err
			}
			parts[i] = Lit(k) + ": " + p
		}
		return "{" + strings.Join(parts, ", ") + "}", nil
	}
	return "", fmt.Errorf("no CEL literal for %T", v)
}

// ValueFields are the inheritable securityContext fields, as in the Rego library.
var ValueFields = map[string][]string{
	"hostProcess":   {"securityContext", "windowsOptions", "hostProcess"},
	"runAsUserName": {"securityContext", "windowsOptions", "runAsUserName"},
	"runAsNonRoot":  {"securityContext", "runAsNonRoot"},
}

// ValueField is the path of an inheritable field below a container, e.g. "securityContext.runAsNonRoot".
func ValueField(key string) string { return strings.Join(ValueFields[key], ".") }

// Finding is a CEL finding map {field, container, msg}.
func Finding(field, container, msg string) string {
	return fmt.Sprintf(`{"field": dyn(%s), "container": dyn(%s), "msg": dyn(%s)}`, field, container, msg)
}

// Effective is the value of an inheritable field that applies to container entry c (core.effective).
func Effective(c, key string) string {
	return fmt.Sprintf(`(%[1]s[%[2]s] != null ? %[1]s[%[2]s] : variables.pod_%[3]s)`, c, Lit(key), key)
}

// SourceField is the field path where the effective value of container entry c is set (core.source).
func SourceField(c, key string) string {
	return fmt.Sprintf(`(%[1]s[%[2]s] != null || variables.pod_%[3]s == null ? %[1]s.path + %[4]s : variables.prefix + %[4]s)`, c, Lit(key), key, Lit("."+ValueField(key)))
}

// Sourced lists the effective values of an inheritable field for the HostProcess containers, each
// with its source (as core.source): the containers' own values, and the pod's value once when some
// HostProcess container inherits it. Field paths are unique, so no deduplication is needed (which
// would cost quadratic time on large pods).
func Sourced(key string) string {
	vf := Lit("." + ValueField(key))
	return fmt.Sprintf(`variables.hpContainers.filter(c, c[%[1]s] != null).map(c, {"value": dyn(c[%[1]s]), "field": dyn(c.path + %[2]s), "container": dyn(c.name)}) + (variables.pod_%[3]s != null && variables.hpContainers.exists(c, c[%[1]s] == null) ? [{"value": dyn(variables.pod_%[3]s), "field": dyn(variables.prefix + %[2]s), "container": dyn("")}] : [])`,
		Lit(key), vf, key)
}

// CELTypeName is the CEL type of a JSON schema type name (boolean, array, object, string).
func CELTypeName(t string) (string, error) {
	switch t {
	case "boolean":
		return "bool", nil
	case "array":
		return "list", nil
	case "object":
		return "map", nil
	case "string":
		return "string", nil
	}
	return "", fmt.Errorf("field-types: unsupported type %q", t)
}

// StrList is a CEL list literal of strings.
func StrList(xs []string) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = Lit(x)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// JSON renders a value as compact JSON (as Rego's json.marshal does).
func JSON(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

// InheritableKey is the name of the inheritable field at path below a container (a key of
// ValueFields), or "" when path is not one.
func InheritableKey(path []string) string {
	for k, p := range ValueFields {
		if slices.Equal(p, path) {
			return k
		}
	}
	return ""
}
