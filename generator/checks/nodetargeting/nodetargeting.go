// Package nodetargeting is the check kind "node-targeting": a HostProcess pod is kept off other
// nodes by a node selector, a required node affinity, or an allowed RuntimeClass.
package nodetargeting

import (
	_ "embed"
	"fmt"

	"github.com/hpguard/hpguard/generator/checks"
)

//go:embed check.rego.tmpl
var rego string

func init() {
	checks.Register(&checks.Kind{
		Name:    "node-targeting",
		Doc:     "a HostProcess pod selects nodes with a label value: by nodeSelector, a required node affinity whose every term selects it, or an allowed runtimeClassName",
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
	// Label and Value select the nodes, e.g. kubernetes.io/os: windows.
	Label string `yaml:"label"`
	Value string `yaml:"value"`
}

func cel(b *checks.CELBuilder, args any) ([]string, error) {
	a := args.(*Args)
	label, want := a.Label, a.Value
	b.Add("nodeSelectorValue", checks.Get("variables.podSpec", "nodeSelector", label))
	terms := checks.Get("variables.podSpec", "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms")
	b.Add("targeted", fmt.Sprintf(`variables.nodeSelectorValue == %[1]s || (type(%[2]s) == list && size(%[2]s) > 0 && %[2]s.all(t, type(t) == map && "matchExpressions" in t && type(t.matchExpressions) == list && t.matchExpressions.exists(e, %[3]s == %[4]s && %[5]s == "In" && type(%[6]s) == list && size(%[6]s) > 0 && %[6]s.all(v, v == %[1]s)))) || %[7]s in variables.param_allowedRuntimeClasses`,
		checks.Lit(want), terms, checks.Get("e", "key"), checks.Lit(label), checks.Get("e", "operator"), checks.Get("e", "values"), checks.Get("variables.podSpec", "runtimeClassName")))
	field := "variables.prefix + " + checks.Lit(".nodeSelector["+label+"]")
	return []string{
		fmt.Sprintf(`variables.isHostProcessPod && variables.nodeSelectorValue != null && variables.nodeSelectorValue != %s ? [%s] : []`, checks.Lit(want),
			checks.Finding(field, `""`, b.Msg("wrong-value", map[string]string{"field": field, "value": checks.Show("variables.nodeSelectorValue")}))),
		fmt.Sprintf(`variables.isHostProcessPod && variables.nodeSelectorValue == null && !variables.targeted ? [%s] : []`,
			checks.Finding(`variables.prefix + ".nodeSelector"`, `""`, b.Msg("untargeted", map[string]string{"field": `variables.prefix + ".nodeSelector"`}))),
	}, nil
}
