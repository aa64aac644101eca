package generator

import (
	"fmt"
	"path"
	"sort"
	"strings"

	templatesv1 "github.com/open-policy-agent/frameworks/constraint/pkg/apis/templates/v1"
	coretemplates "github.com/open-policy-agent/frameworks/constraint/pkg/core/templates"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hpguard/hpguard/generator/spec"
)

// CombinedDir holds the combined form of the Gatekeeper policies, relative to GatekeeperDir: one
// ConstraintTemplate that evaluates every rule a Constraint lists, in one query, and per profile one
// Constraint for its deny rules and one for its warn rules. Gatekeeper evaluates each template with
// a query of its own, converting the object under review and evaluating the shared library again
// for each: a whole profile of one template per rule costs about fourteen times that overhead, the
// combined template about twice (one query per Constraint, each evaluating only its rules).
const CombinedDir = "combined"

// CombinedRulesParameter is the Constraint parameter of the combined template that lists the rules
// to evaluate, each with its parameters ({} for none or the defaults).
const CombinedRulesParameter = "rules"

// CombinedKind is the kind of the combined template's Constraints.
func CombinedKind(s *spec.Spec) string { return camel(s.Ruleset.Package) + "Rules" }

// CombinedTemplatePath is the combined template's path, relative to GatekeeperDir.
func CombinedTemplatePath() string {
	return path.Join(CombinedDir, "template", "constrainttemplate.yaml")
}

// CombinedConstraintPath is the path of a profile's combined Constraint for a severity, relative to
// GatekeeperDir.
func CombinedConstraintPath(profile, severity string) string {
	return path.Join(CombinedDir, "profiles", profile, severity+".yaml")
}

// combinedVariant renders the rules as libraries of the combined template, each reading its
// parameters from the Constraint's rules parameter.
func combinedVariant(s *spec.Spec) Variant {
	root := s.Ruleset.Package
	return Variant{
		LibPackage:  "lib." + root + ".core",
		RulePackage: func(r *spec.Rule) string { return "lib." + root + ".rules." + regoName(r.ID) },
		ParamsRef:   func(r *spec.Rule) string { return fmt.Sprintf("input.parameters.%s[%q]", CombinedRulesParameter, r.ID) },
	}
}

// combinedSelection is the library that gathers the findings of the rules the Constraint lists,
// with their rule id; a rule that is not listed is not evaluated.
func combinedSelection(s *spec.Spec) (string, error) {
	root := s.Ruleset.Package
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\npackage lib.%s.selected\n\n", Header, root)
	b.WriteString("# findings are the findings of every rule the Constraint lists, with the rule id. Rules that\n# only concern HostProcess pods are not evaluated at all for other pods. (The rules are iterated\n# with [_]: Gatekeeper rewrites data.lib references to its own library root, which it does not do\n# inside `some ... in`.)\n")
	ids := make([]string, 0, len(s.Rules))
	for _, r := range s.Rules {
		ids = append(ids, r.ID)
	}
	sort.Strings(ids)
	for _, id := range ids {
		r := s.RuleByID(id)
		gate := ""
		if r.Scope == spec.ScopeHostProcessPods {
			gate = fmt.Sprintf("\tdata.lib.%s.core.is_hostprocess_pod\n", root)
		}
		fmt.Fprintf(&b, "findings contains object.union(f, {\"rule\": %q}) if {\n\t_ = input.parameters.%s[%q]\n%s\tf := data.lib.%s.rules.%s.findings[_]\n}\n\n",
			id, CombinedRulesParameter, id, gate, root, regoName(id))
	}
	return formatRego("selected.rego", b.String())
}

// CombinedTemplate builds the combined ConstraintTemplate; lib is the Gatekeeper variant of the
// library. Its violations are those of the per-rule templates (same message and details) for the
// rules its Constraint lists.
func CombinedTemplate(s *spec.Spec, lib string) (*templatesv1.ConstraintTemplate, error) {
	root := s.Ruleset.Package
	kind := CombinedKind(s)
	v := combinedVariant(s)
	libs := []any{lib}
	sel, err := combinedSelection(s)
	if err != nil {
		return nil, err
	}
	libs = append(libs, sel)
	ruleSchemas := map[string]apiextensionsv1.JSONSchemaProps{}
	ids := make([]string, 0, len(s.Rules))
	for _, r := range s.Rules {
		ids = append(ids, r.ID)
	}
	sort.Strings(ids)
	for _, id := range ids {
		r := s.RuleByID(id)
		src, err := RuleModule(s, r, v, "")
		if err != nil {
			return nil, err
		}
		libs = append(libs, src)
		schema, err := parameterSchema(r)
		if err != nil {
			return nil, err
		}
		ruleSchemas[id] = *schema
	}
	main, err := formatRego("combined.rego", fmt.Sprintf(`# %s
package %s

# violation reports the findings of the rules the Constraint lists (parameter %s), each with its
# rule id, field path and container, as the per-rule templates do. The object under review is the
# request's object, passed to the library with `+"`with`"+`.
violation contains {"msg": f.msg, "details": {"rule": f.rule, "field": f.field, "container": object.get(f, "container", "")}} if {
	fs := data.lib.%s.selected.findings with data.lib.%s.core.obj as input.review.object
	some f in fs
}
`, Header, strings.ToLower(kind), CombinedRulesParameter, root, root))
	if err != nil {
		return nil, err
	}
	schema := &apiextensionsv1.JSONSchemaProps{
		Type: "object",
		Properties: map[string]apiextensionsv1.JSONSchemaProps{
			CombinedRulesParameter: {
				Type:        "object",
				Description: "The rules to evaluate, each with its parameters ({} for the defaults).",
				Properties:  ruleSchemas,
			},
		},
	}
	return newTemplate(s, kind, map[string]string{
		"metadata.gatekeeper.sh/title": "Every hpguard rule, in one template",
		"description":                  "Evaluates the rules its Constraint lists (parameter " + CombinedRulesParameter + ", each with its parameters) in one query: a whole profile as one Constraint per severity.",
	}, schema, templatesv1.Code{
		Engine: "Rego",
		Source: &coretemplates.Anything{Value: map[string]any{"version": "v1", "rego": main, "libs": libs}},
	}), nil
}

// combinedFiles renders the combined template and, per profile, its Constraints: one per severity
// that the profile uses, listing the rules of that severity with their default parameters.
func combinedFiles(s *spec.Spec, lib string) ([]File, error) {
	var files []File
	add := func(rel string, data []byte) {
		files = append(files, File{Path: path.Join(GatekeeperDir, rel), Data: data})
	}
	ct, err := CombinedTemplate(s, lib)
	if err != nil {
		return nil, err
	}
	y, err := marshalYAML(ct, "status", "metadata.creationTimestamp")
	if err != nil {
		return nil, err
	}
	add(CombinedTemplatePath(), y)
	k, err := marshalYAML(newKustomization(path.Base(CombinedTemplatePath())))
	if err != nil {
		return nil, err
	}
	add(path.Join(path.Dir(CombinedTemplatePath()), "kustomization.yaml"), k)
	for _, p := range s.Ruleset.Profiles {
		var names []string
		for _, severity := range []string{"deny", "warn"} {
			rules := map[string]any{}
			for id, sev := range p.Rules {
				if string(sev) != severity {
					continue
				}
				r := s.RuleByID(id)
				if r == nil {
					return nil, fmt.Errorf("profile %s: unknown rule %s", p.Name, id)
				}
				params := map[string]any{}
				for k, v := range r.ParamDefaults() {
					params[k] = v
				}
				rules[id] = params
			}
			if len(rules) == 0 {
				continue
			}
			c := combinedConstraint(s, p.Name, p.Name+"-"+severity, severity, rules)
			y, err := marshalYAML(c, "metadata.creationTimestamp")
			if err != nil {
				return nil, err
			}
			add(CombinedConstraintPath(p.Name, severity), y)
			names = append(names, severity+".yaml")
		}
		k, err := marshalYAML(newKustomization(names...))
		if err != nil {
			return nil, err
		}
		add(path.Join(CombinedDir, "profiles", p.Name, "kustomization.yaml"), k)
	}
	return files, nil
}

// combinedConstraint is a Constraint of the combined template for a profile, with an enforcement
// action, listing rules (rule id -> parameters).
func combinedConstraint(s *spec.Spec, profile, name, action string, rules map[string]any) Constraint {
	return Constraint{
		APIVersion: "constraints.gatekeeper.sh/v1beta1",
		Kind:       CombinedKind(s),
		Metadata: metav1.ObjectMeta{
			Name: constraintName(name),
			Labels: map[string]string{
				"app.kubernetes.io/part-of": s.Ruleset.Name,
				"hpguard.dev/profile":       profile,
			},
		},
		Spec: ConstraintSpec{EnforcementAction: action, Match: workloadMatch(),
			Parameters: map[string]any{CombinedRulesParameter: clone(rules)}},
	}
}
