// Package explicitvalueforbidden is the check kind "explicit-value-forbidden": no pod or container
// sets an inheritable field to a value, unless the namespace, the service account or every image
// concerned is exempt (the rule's parameters exemptNamespaces, exemptServiceAccounts, exemptImages).
package explicitvalueforbidden

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
		Name:    "explicit-value-forbidden",
		Doc:     "no pod or container sets an inheritable field to a value, unless its namespace, service account or images are exempt",
		NewArgs: func() any { return &Args{} },
		Messages: []checks.Message{{ID: "forbidden", Placeholders: []checks.Placeholder{
			{Name: "field", Doc: "where the value is set"}, {Name: "value", Doc: "the forbidden value, as JSON"},
			{Name: "rule", Doc: "the rule's id (where the exemptions are set)"}}}},
		Rego: rego,
		CEL:  cel,
	})
}

// Args are the arguments of explicit-value-forbidden.
type Args struct {
	// Path is the inheritable field below a container, e.g. [securityContext, windowsOptions, hostProcess].
	Path []string `yaml:"path"`
	// Value is the forbidden value.
	Value any `yaml:"value"`
}

// Key is the name of the inheritable field at Path, or "".
func (a *Args) Key() string { return checks.InheritableKey(a.Path) }

// Validate checks the path and that the rule has the exemption parameters.
func (a *Args) Validate(r *spec.Rule) error {
	if a.Key() == "" {
		return fmt.Errorf("path %s is not an inheritable field", strings.Join(a.Path, "."))
	}
	have := map[string]bool{}
	for _, p := range r.Parameters {
		have[p.Name] = true
	}
	for _, p := range []string{"exemptNamespaces", "exemptServiceAccounts", "exemptImages"} {
		if !have[p] {
			return fmt.Errorf("the rule needs the parameter %s", p)
		}
	}
	return nil
}

func cel(b *checks.CELBuilder, args any) ([]string, error) {
	a := args.(*Args)
	key := a.Key()
	forbidden, err := checks.Literal(a.Value)
	if err != nil {
		return nil, err
	}
	value, err := checks.JSON(a.Value)
	if err != nil {
		return nil, err
	}
	// The account the pod runs as, read as the API server does: serviceAccountName, else the
	// deprecated alias serviceAccount, else "default".
	b.Add("serviceAccountName", checks.Get("variables.podSpec", "serviceAccountName"))
	b.Add("serviceAccountAlias", checks.Get("variables.podSpec", "serviceAccount"))
	b.Add("serviceAccount", `variables.serviceAccountName != null && variables.serviceAccountName != "" ? variables.serviceAccountName : variables.serviceAccountAlias != null && variables.serviceAccountAlias != "" ? variables.serviceAccountAlias : "default"`)
	b.Add("exemptPod", `variables.objectNamespace in variables.param_exemptNamespaces || variables.serviceAccount in variables.param_exemptServiceAccounts || (type(variables.serviceAccount) == string && variables.objectNamespace + "/" + variables.serviceAccount in variables.param_exemptServiceAccounts)`)
	exemptImage := func(img string) string {
		return fmt.Sprintf(`(%[1]s in variables.param_exemptImages || (type(%[1]s) == string && variables.param_exemptImages.exists(e, (e.startsWith("sha256:") && %[1]s.endsWith("@" + e)) || (e.endsWith("*") && %[1]s.startsWith(e.substring(0, size(e) - 1))))))`, img)
	}
	b.Add("allImagesExempt", fmt.Sprintf(`size(variables.containers) > 0 && variables.containers.all(c, %s)`, exemptImage(checks.GetOr("c.spec", `""`, "image"))))
	msg := func(field string) string {
		return b.Msg("forbidden", map[string]string{"field": field, "value": checks.Lit(value), "rule": checks.Lit(b.Rule.ID)})
	}
	podField := "variables.prefix + " + checks.Lit("."+checks.ValueField(key))
	cField := "c.path + " + checks.Lit("."+checks.ValueField(key))
	return []string{
		fmt.Sprintf(`variables.pod_%s == %s && !variables.exemptPod && !variables.allImagesExempt ? [%s] : []`, key, forbidden, checks.Finding(podField, `""`, msg(podField))),
		fmt.Sprintf(`variables.exemptPod ? [] : variables.containers.filter(c, c[%s] == %s && !%s).map(c, %s)`, checks.Lit(key), forbidden, exemptImage(checks.GetOr("c.spec", `""`, "image")), checks.Finding(cField, "c.name", msg(cField))),
	}, nil
}
