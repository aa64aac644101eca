package generator

import (
	"encoding/json"
	"fmt"
	"path"
	"strings"

	templatesv1 "github.com/open-policy-agent/frameworks/constraint/pkg/apis/templates/v1"
	coretemplates "github.com/open-policy-agent/frameworks/constraint/pkg/core/templates"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hpguard/hpguard/generator/spec"
)

// ConstraintKind is the Constraint kind of a rule: the ruleset name and the rule id in CamelCase,
// e.g. HpguardHostNetworkRequired.
func ConstraintKind(s *spec.Spec, r *spec.Rule) string {
	return camel(s.Ruleset.Name) + camel(r.ID)
}

func camel(id string) string {
	var b strings.Builder
	for _, part := range strings.Split(id, "-") {
		if part == "" {
			continue
		}
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}

// TemplatePath is the path of a rule's ConstraintTemplate, relative to GatekeeperDir.
func TemplatePath(r *spec.Rule) string {
	return path.Join("templates", r.ID, "constrainttemplate.yaml")
}

// ConstraintTemplate builds a rule's ConstraintTemplate; lib is the Gatekeeper variant of the library.
func ConstraintTemplate(s *spec.Spec, r *spec.Rule, lib string) (*templatesv1.ConstraintTemplate, error) {
	v := GatekeeperVariant(s)
	extra := fmt.Sprintf(`
# violation reports every finding to Gatekeeper, with the rule id, field path and container.
# The object under review is the request's object, passed to the library with `+"`with`"+`.
violation contains {"msg": f.msg, "details": {"rule": %q, "field": f.field, "container": object.get(f, "container", "")}} if {
	fs := findings with data.%s.obj as input.review.object
	some f in fs
}
`, r.ID, v.LibPackage)
	src, err := RuleModule(s, r, v, extra)
	if err != nil {
		return nil, err
	}
	schema, err := parameterSchema(r)
	if err != nil {
		return nil, err
	}
	celCode, err := nativeValidationCode(s, r)
	if err != nil {
		return nil, err
	}
	return newTemplate(s, ConstraintKind(s, r), map[string]string{
		"metadata.gatekeeper.sh/title": r.Title,
		"description":                  strings.TrimSpace(r.Description),
		RuleAnnotation:                 r.ID,
	}, schema, templatesv1.Code{
		Engine: "Rego",
		Source: &coretemplates.Anything{Value: map[string]any{
			"version": "v1",
			"rego":    src,
			"libs":    []any{lib},
		}},
	}, celCode), nil
}

// newTemplate is the scaffolding every ConstraintTemplate hpguard ships shares: the name (the
// kind, lower case), the part-of label, the version annotation beside the given ones, the
// parameter schema (structural: no legacy schema), and one target that checks CREATE and UPDATE
// with the given code blocks.
func newTemplate(s *spec.Spec, kind string, annotations map[string]string, schema *apiextensionsv1.JSONSchemaProps, code ...templatesv1.Code) *templatesv1.ConstraintTemplate {
	ann := map[string]string{"metadata.gatekeeper.sh/version": s.Ruleset.Version}
	for k, v := range annotations {
		ann[k] = v
	}
	legacy := false
	return &templatesv1.ConstraintTemplate{
		TypeMeta: metav1.TypeMeta{APIVersion: templatesv1.SchemeGroupVersion.String(), Kind: "ConstraintTemplate"},
		ObjectMeta: metav1.ObjectMeta{
			Name:        strings.ToLower(kind),
			Labels:      map[string]string{"app.kubernetes.io/part-of": s.Ruleset.Name},
			Annotations: ann,
		},
		Spec: templatesv1.ConstraintTemplateSpec{
			CRD: templatesv1.CRD{Spec: templatesv1.CRDSpec{
				Names:      templatesv1.Names{Kind: kind},
				Validation: &templatesv1.Validation{OpenAPIV3Schema: schema, LegacySchema: &legacy},
			}},
			Targets: []templatesv1.Target{{
				Target: GatekeeperTarget,
				// UPDATE is checked too: it is how ephemeral containers reach a pod (the
				// pods/ephemeralcontainers subresource) and how workloads change.
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
				Code:       code,
			}},
		},
	}
}

// nativeValidationCode is the rule's CEL form as a K8sNativeValidation code block. Gatekeeper runs
// one engine per template and prefers this one where its CEL driver is enabled; generateVAP is
// off, and an operator may turn it on to have Gatekeeper generate a ValidatingAdmissionPolicy.
func nativeValidationCode(s *spec.Spec, r *spec.Rule) (templatesv1.Code, error) {
	cr, err := CEL(s, r, CELParamsGatekeeper)
	if err != nil {
		return templatesv1.Code{}, err
	}
	vars := make([]any, 0, len(cr.Variables))
	for _, v := range cr.Variables {
		vars = append(vars, map[string]any{"name": v.Name, "expression": v.Expression})
	}
	vals := make([]any, 0, len(cr.Validations))
	for _, v := range cr.Validations {
		vals = append(vals, map[string]any{"expression": v.Expression, "messageExpression": v.MessageExpression})
	}
	return templatesv1.Code{
		Engine: "K8sNativeValidation",
		Source: &coretemplates.Anything{Value: map[string]any{
			"variables":   vars,
			"validations": vals,
			"generateVAP": false,
		}},
	}, nil
}

// parameterSchema is the openAPIV3Schema of a rule's Constraint parameters.
func parameterSchema(r *spec.Rule) (*apiextensionsv1.JSONSchemaProps, error) {
	out := &apiextensionsv1.JSONSchemaProps{Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{}}
	for _, p := range r.Parameters {
		b, err := json.Marshal(p.Schema)
		if err != nil {
			return nil, err
		}
		var ps apiextensionsv1.JSONSchemaProps
		if err := json.Unmarshal(b, &ps); err != nil {
			return nil, fmt.Errorf("rule %s: parameter %s: schema is not OpenAPI v3: %w", r.ID, p.Name, err)
		}
		ps.Description = strings.TrimSpace(p.Description)
		out.Properties[p.Name] = ps
	}
	return out, nil
}
