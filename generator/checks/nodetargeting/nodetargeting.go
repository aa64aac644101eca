// Package nodetargeting is the check kind "node-targeting": a HostProcess pod is kept off other
// nodes by a node selector, a required node affinity, or an allowed RuntimeClass.
package nodetargeting

import (
	_ "embed"
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
		Name:    "node-targeting",
		Doc:     "a HostProcess pod selects nodes with a label value: by nodeSelector on one of the labels, a required node affinity with a term that can match and whose every term that can match (one with matchExpressions or matchFields) selects one of the labels In [value], or an allowed runtimeClassName",
		NewArgs: func() any { return &Args{} },
		Messages: []checks.Message{
			{ID: "wrong-value", Placeholders: []checks.Placeholder{
				{Name: "field", Doc: "the node selector's path"}, {Name: "value", Doc: "its value"}}},
			{ID: "untargeted", Placeholders: []checks.Placeholder{
				{Name: "field", Doc: "the path of the pod's nodeSelector"}}},
		},
		Rego: rego,
		CEL:  cel,
	})
}

// Args are the arguments of node-targeting. The rule's parameter allowedRuntimeClasses lists the
// RuntimeClasses that select the nodes.
type Args struct {
	// Labels are the node labels that carry the value, e.g. [kubernetes.io/os,
	// beta.kubernetes.io/os]: a nodeSelector or an affinity requirement on any of them selects.
	Labels []string `yaml:"labels"`
	// Value selects the nodes, e.g. windows.
	Value string `yaml:"value"`
}

// Validate checks that the labels are given, not empty and not repeated.
func (a *Args) Validate(*spec.Rule) error {
	if len(a.Labels) == 0 {
		return errors.New("labels is empty")
	}
	for i, l := range a.Labels {
		if l == "" {
			return errors.New("labels has an empty label")
		}
		if slices.Contains(a.Labels[:i], l) {
			return fmt.Errorf("labels has %q twice", l)
		}
	}
	if a.Value == "" {
		return errors.New("value is empty")
	}
	return nil
}

func cel(b *checks.CELBuilder, args any) ([]string, error) {
	a := args.(*Args)
	want := checks.Lit(a.Value)
	values := make([]string, len(a.Labels))
	for i, l := range a.Labels {
		values[i] = checks.Get("variables.podSpec", "nodeSelector", l)
	}
	// The nodeSelector value of each label, in the order of labels (null where not given).
	b.Add("nodeSelectorValues", "["+strings.Join(values, ", ")+"]")
	emptyList := func(x string) string {
		return fmt.Sprintf(`(%[1]s == null || (type(%[1]s) == list && size(%[1]s) == 0))`, x)
	}
	// A term without matchExpressions and matchFields matches no node: the scheduler skips it.
	emptyTerm := fmt.Sprintf(`(t == null || (type(t) == map && %s && %s))`, emptyList(checks.Get("t", "matchExpressions")), emptyList(checks.Get("t", "matchFields")))
	var isLabel []string
	for _, l := range a.Labels {
		isLabel = append(isLabel, fmt.Sprintf("%s == %s", checks.Get("e", "key"), checks.Lit(l)))
	}
	vals := checks.Get("e", "values")
	// A term selects when one of its requirements is a label In a non-empty list of only the value.
	selectingTerm := fmt.Sprintf(`(type(t) == map && "matchExpressions" in t && type(t.matchExpressions) == list && t.matchExpressions.exists(e, (%s) && %s == "In" && type(%s) == list && size(%s) > 0 && %s.all(v, v == %s)))`,
		strings.Join(isLabel, " || "), checks.Get("e", "operator"), vals, vals, vals, want)
	terms := checks.Get("variables.podSpec", "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms")
	b.Add("nodeSelectorTerms", terms)
	b.Add("targeted", fmt.Sprintf(`variables.nodeSelectorValues.exists(v, v == %[1]s) || (type(variables.nodeSelectorTerms) == list && variables.nodeSelectorTerms.exists(t, !%[2]s) && variables.nodeSelectorTerms.all(t, %[2]s || %[3]s)) || %[4]s in variables.param_allowedRuntimeClasses`,
		want, emptyTerm, selectingTerm, checks.Get("variables.podSpec", "runtimeClassName")))
	var groups []string
	for i, l := range a.Labels {
		v := fmt.Sprintf("variables.nodeSelectorValues[%d]", i)
		field := "variables.prefix + " + checks.Lit(".nodeSelector["+l+"]")
		groups = append(groups, fmt.Sprintf(`variables.isHostProcessPod && %[1]s != null && %[1]s != %[2]s ? [%[3]s] : []`, v, want,
			checks.Finding(field, `""`, b.Msg("wrong-value", map[string]string{"field": field, "value": checks.Show(v)}))))
	}
	groups = append(groups, fmt.Sprintf(`variables.isHostProcessPod && variables.nodeSelectorValues.all(v, v == null) && !variables.targeted ? [%s] : []`,
		checks.Finding(`variables.prefix + ".nodeSelector"`, `""`, b.Msg("untargeted", map[string]string{"field": `variables.prefix + ".nodeSelector"`}))))
	return groups, nil
}
