package generator

import (
	"fmt"
	"path"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"

	"github.com/hpguard/hpguard/generator/checks"
	"github.com/hpguard/hpguard/generator/spec"
)

// Kyverno packaging of the CEL form (cel.go): one Kyverno ValidatingPolicy (policies.kyverno.io/v1)
// per rule of each profile, with the profile's validation actions and the rule's parameters.
//
// Parameters are policy variables: a ValidatingPolicy has no paramKind (Kyverno dropped the
// parameter resources of ValidatingAdmissionPolicy), and the alternatives read a ConfigMap through
// Kyverno's resource library at every evaluation, which needs RBAC for Kyverno's service account,
// fails (open or closed, by failurePolicy) when the object is missing, and cannot be evaluated by
// `kyverno apply` without a context file. A variable "hpParams" holding the parameters as a CEL map
// literal is evaluated the same way in the cluster, in a background scan and offline, and an auditor
// reads the values in the policy itself. The rule's expressions read it exactly as the
// ValidatingAdmissionPolicy reads its params object (absent keys take the spec defaults), so a
// kustomize patch of that one variable changes a parameter (kyverno/README.md).

// KyvernoDir is where the Kyverno policies are written: profiles/<profile>/<rule>.yaml and the
// profile's kustomization.yaml, and tests/ (the `kyverno test` suite of the golden cases).
const KyvernoDir = "kyverno"

// KyvernoParamsVariable is the variable of a Kyverno policy that holds the rule's parameters.
const KyvernoParamsVariable = "hpParams"

// kyvernoPolicy is a Kyverno ValidatingPolicy (github.com/kyverno/api policies.kyverno.io/v1), with
// only the fields hpguard writes, so that hpguard does not depend on Kyverno's module.
type kyvernoPolicy struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   kyvernoMetadata   `json:"metadata"`
	Spec       kyvernoPolicySpec `json:"spec"`
}

type kyvernoMetadata struct {
	Name        string            `json:"name"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type kyvernoPolicySpec struct {
	ValidationActions []admissionregistrationv1.ValidationAction `json:"validationActions"`
	FailurePolicy     admissionregistrationv1.FailurePolicyType  `json:"failurePolicy"`
	MatchConstraints  admissionregistrationv1.MatchResources     `json:"matchConstraints"`
	// Autogen is {podControllers: {controllers: []}}: no rules generated for pod controllers, since
	// the policy matches every workload kind itself (with the workload's own field paths), so that
	// each workload is evaluated once, by the same expressions.
	Autogen     map[string]any                       `json:"autogen"`
	Variables   []admissionregistrationv1.Variable   `json:"variables"`
	Validations []admissionregistrationv1.Validation `json:"validations"`
}

// KyvernoPolicyName is the name of a rule's Kyverno policy (one profile is installed at a time, as
// with the Gatekeeper Constraints; the profile is a label).
func KyvernoPolicyName(r *spec.Rule) string { return KyvernoPolicyPrefix + r.ID }

// KyvernoPolicyPrefix starts the name of every hpguard Kyverno policy; the rule id follows.
const KyvernoPolicyPrefix = "hpguard-"

// KyvernoParams renders parameters as the expression of the hpParams variable: a CEL map literal
// wrapped in dyn(), so that it type-checks as the VAP's params object does (Kyverno types each
// variable from its expression, and a map literal's values would be typed lists and strings, to
// which the rules' null tests do not apply).
func KyvernoParams(params map[string]any) (string, error) {
	if params == nil {
		params = map[string]any{}
	}
	lit, err := checks.Literal(params)
	if err != nil {
		return "", err
	}
	return "dyn(" + lit + ")", nil
}

// KyvernoPolicy is the ValidatingPolicy of rule r in profile with severity sev and the given
// parameter values (nil: the spec defaults).
func KyvernoPolicy(s *spec.Spec, r *spec.Rule, profile string, sev spec.Severity, params map[string]any) ([]byte, error) {
	values := r.ParamDefaults()
	for k, v := range params {
		values[k] = v
	}
	root, err := KyvernoParams(values)
	if err != nil {
		return nil, fmt.Errorf("rule %s: parameters: %w", r.ID, err)
	}
	c, err := CEL(s, r, root)
	if err != nil {
		return nil, err
	}
	actions := []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny, admissionregistrationv1.Audit}
	severity := "high"
	if sev == spec.Warn {
		actions = []admissionregistrationv1.ValidationAction{admissionregistrationv1.Warn, admissionregistrationv1.Audit}
		severity = "medium"
	}
	equivalent := admissionregistrationv1.Equivalent
	p := kyvernoPolicy{
		APIVersion: "policies.kyverno.io/v1",
		Kind:       "ValidatingPolicy",
		Metadata: kyvernoMetadata{
			Name:   KyvernoPolicyName(r),
			Labels: map[string]string{"app.kubernetes.io/part-of": s.Ruleset.Name, "hpguard.dev/profile": profile},
			Annotations: map[string]string{
				"hpguard.dev/rule":                   r.ID,
				"hpguard.dev/severity":               string(sev),
				"policies.kyverno.io/title":          r.Title,
				"policies.kyverno.io/category":       "Pod Security (Windows HostProcess)",
				"policies.kyverno.io/severity":       severity,
				"policies.kyverno.io/subject":        "Pod",
				"policies.kyverno.io/description":    strings.TrimSpace(r.Description),
				"hpguard.dev/parameters-variable":    KyvernoParamsVariable,
				"hpguard.dev/parameters-description": kyvernoParamsDoc(r),
			},
		},
		Spec: kyvernoPolicySpec{
			ValidationActions: actions,
			FailurePolicy:     admissionregistrationv1.Fail,
			MatchConstraints:  admissionregistrationv1.MatchResources{MatchPolicy: &equivalent, ResourceRules: vapResourceRules()},
			Autogen:           map[string]any{"podControllers": map[string]any{"controllers": []any{}}},
		},
	}
	if len(r.Parameters) == 0 {
		delete(p.Metadata.Annotations, "hpguard.dev/parameters-variable")
		delete(p.Metadata.Annotations, "hpguard.dev/parameters-description")
	}
	for _, v := range c.Variables {
		p.Spec.Variables = append(p.Spec.Variables, admissionregistrationv1.Variable{Name: v.Name, Expression: v.Expression})
	}
	for _, v := range c.Validations {
		p.Spec.Validations = append(p.Spec.Validations, admissionregistrationv1.Validation{
			Expression: v.Expression, MessageExpression: v.MessageExpression,
			Message: fmt.Sprintf("hpguard rule %s: %s", r.ID, r.Title),
		})
	}
	return marshalYAML(p)
}

// kyvernoParamsDoc names the rule's parameters for the annotation that points at hpParams.
func kyvernoParamsDoc(r *spec.Rule) string {
	var names []string
	for _, p := range r.Parameters {
		names = append(names, p.Name)
	}
	return "variable " + KyvernoParamsVariable + " is a CEL map of " + strings.Join(names, ", ") + " (docs/rules.md#" + r.ID + ")"
}

// KyvernoPolicyPath is the path of rule r's policy in profile, relative to KyvernoDir.
func KyvernoPolicyPath(profile string, r *spec.Rule) string {
	return path.Join("profiles", profile, r.ID+".yaml")
}

// Kyverno generates the Kyverno artifacts under KyvernoDir.
func Kyverno(s *spec.Spec) ([]File, error) {
	files := []File{{Path: KyvernoDir + "/embed.go", Data: []byte(kyvernoEmbed)}, {Path: KyvernoDir + "/README.md", Data: kyvernoReadme(s)}}
	for _, prof := range s.Ruleset.Profiles {
		var resources []string
		for _, r := range s.Rules {
			sev, ok := prof.Rules[r.ID]
			if !ok {
				continue
			}
			data, err := KyvernoPolicy(s, r, prof.Name, sev, nil)
			if err != nil {
				return nil, err
			}
			files = append(files, File{Path: path.Join(KyvernoDir, KyvernoPolicyPath(prof.Name, r)), Data: data})
			resources = append(resources, r.ID+".yaml")
		}
		k, err := marshalYAML(newKustomization(resources...))
		if err != nil {
			return nil, err
		}
		files = append(files, File{Path: path.Join(KyvernoDir, "profiles", prof.Name, "kustomization.yaml"), Data: k})
	}
	suite, err := kyvernoSuiteFiles(s)
	if err != nil {
		return nil, err
	}
	return append(files, suite...), nil
}

// kyvernoEmbed is kyverno/embed.go: the profiles' policies embedded in the binary for `check
// --engine kyverno`.
const kyvernoEmbed = `// Code generated by hpguard; DO NOT EDIT.

// Package kyverno holds the generated Kyverno ValidatingPolicies of each profile, embedded so that
// hpguard evaluates exactly the policies it ships.
package kyverno

import (
	"embed"
	"io/fs"
)

//go:embed profiles/*/*.yaml
var files embed.FS

// FS returns profiles/<profile>/<rule>.yaml (and each profile's kustomization.yaml).
func FS() fs.FS { return files }
`
