package generator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	yaml3 "go.yaml.in/yaml/v3"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hpguard/hpguard/generator/spec"
	"github.com/hpguard/hpguard/internal/workload"
)

// ValidatingAdmissionPolicy packaging of the CEL form (cel.go): one policy per rule, a binding per
// rule of each profile with its parameters, and the parameters resource.

// VAPDir is where the ValidatingAdmissionPolicies are written: policies/<rule>.yaml (one policy per
// rule), profiles/<profile>/ (a binding per rule of the profile, with its validationActions, and the
// rule's parameters), and params-crd.yaml (the parameters resource).
const VAPDir = "vap"

// VAP parameter resource: a cluster-scoped HPGuardParameters object whose spec holds a rule's
// parameters (absent keys take the spec defaults).
const (
	VAPParamsGroup   = "hpguard.dev"
	VAPParamsVersion = "v1alpha1"
	VAPParamsKind    = "HPGuardParameters"
	VAPParamsPlural  = "hpguardparameters"
)

// VAPName is the name of a rule's ValidatingAdmissionPolicy.
func VAPName(r *spec.Rule) string { return "hpguard-" + r.ID }

// VAPBindingName is the name of a rule's binding (and of its parameters object) in a profile.
func VAPBindingName(profile string, r *spec.Rule) string {
	return "hpguard-" + profile + "-" + r.ID
}

// vapResourceRules are the resources the policies match: Pods (also the ephemeralcontainers
// subresource) and every workload kind with a pod template, on CREATE and UPDATE.
func vapResourceRules() []admissionregistrationv1.NamedRuleWithOperations {
	rule := func(group, version string, resources ...string) admissionregistrationv1.NamedRuleWithOperations {
		return admissionregistrationv1.NamedRuleWithOperations{RuleWithOperations: admissionregistrationv1.RuleWithOperations{
			Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
			Rule:       admissionregistrationv1.Rule{APIGroups: []string{group}, APIVersions: []string{version}, Resources: resources},
		}}
	}
	var out []admissionregistrationv1.NamedRuleWithOperations
	for _, k := range workload.Kinds {
		resources := []string{k.Resource}
		if k.Name == "Pod" {
			resources = append(resources, "pods/ephemeralcontainers")
		}
		if n := len(out); n > 0 && out[n-1].APIGroups[0] == k.Group() && out[n-1].APIVersions[0] == k.Version {
			out[n-1].Resources = append(out[n-1].Resources, resources...)
			continue
		}
		out = append(out, rule(k.Group(), k.Version, resources...))
	}
	return out
}

// ValidatingAdmissionPolicy is the v1 ValidatingAdmissionPolicy of a rule.
func ValidatingAdmissionPolicy(s *spec.Spec, r *spec.Rule) (*admissionregistrationv1.ValidatingAdmissionPolicy, error) {
	c, err := CEL(s, r, CELParamsVAP)
	if err != nil {
		return nil, err
	}
	fail := admissionregistrationv1.Fail
	equivalent := admissionregistrationv1.Equivalent
	p := &admissionregistrationv1.ValidatingAdmissionPolicy{
		TypeMeta: metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingAdmissionPolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: VAPName(r), Labels: map[string]string{"app.kubernetes.io/part-of": s.Ruleset.Name},
			Annotations: map[string]string{"hpguard.dev/rule": r.ID, "hpguard.dev/title": r.Title}},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: &fail,
			MatchConstraints: &admissionregistrationv1.MatchResources{
				MatchPolicy:   &equivalent,
				ResourceRules: vapResourceRules(),
			},
		},
	}
	if len(r.Parameters) > 0 {
		p.Spec.ParamKind = &admissionregistrationv1.ParamKind{APIVersion: VAPParamsGroup + "/" + VAPParamsVersion, Kind: VAPParamsKind}
	}
	for _, v := range c.Variables {
		p.Spec.Variables = append(p.Spec.Variables, admissionregistrationv1.Variable{Name: v.Name, Expression: v.Expression})
	}
	for _, v := range c.Validations {
		reason := metav1.StatusReasonInvalid
		p.Spec.Validations = append(p.Spec.Validations, admissionregistrationv1.Validation{
			Expression: v.Expression, MessageExpression: v.MessageExpression,
			Message: fmt.Sprintf("hpguard rule %s: %s", r.ID, r.Title), Reason: &reason,
		})
	}
	return p, nil
}

// ValidatingAdmissionPolicyBinding binds a rule's policy in a profile, with the profile's severity
// as validationActions (deny: Deny and Audit; warn: Warn and Audit).
func ValidatingAdmissionPolicyBinding(r *spec.Rule, profile string, sev spec.Severity) *admissionregistrationv1.ValidatingAdmissionPolicyBinding {
	actions := []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny, admissionregistrationv1.Audit}
	if sev == spec.Warn {
		actions = []admissionregistrationv1.ValidationAction{admissionregistrationv1.Warn, admissionregistrationv1.Audit}
	}
	b := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingAdmissionPolicyBinding"},
		ObjectMeta: metav1.ObjectMeta{Name: VAPBindingName(profile, r), Labels: map[string]string{"hpguard.dev/profile": profile}, Annotations: map[string]string{"hpguard.dev/rule": r.ID}},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        VAPName(r),
			ValidationActions: actions,
		},
	}
	if len(r.Parameters) > 0 {
		deny := admissionregistrationv1.DenyAction
		b.Spec.ParamRef = &admissionregistrationv1.ParamRef{Name: VAPBindingName(profile, r), ParameterNotFoundAction: &deny}
	}
	return b
}

// vapParams is a rule's parameters object in a profile (the spec defaults).
func vapParams(r *spec.Rule, profile string) map[string]any {
	params := map[string]any{}
	for _, p := range r.Parameters {
		params[p.Name] = p.Default
	}
	return map[string]any{
		"apiVersion": VAPParamsGroup + "/" + VAPParamsVersion,
		"kind":       VAPParamsKind,
		"metadata":   map[string]any{"name": VAPBindingName(profile, r), "labels": map[string]any{"hpguard.dev/profile": profile}, "annotations": map[string]any{"hpguard.dev/rule": r.ID}},
		"spec":       params,
	}
}

// vapParamsCRD is the CustomResourceDefinition of the parameters resource.
func vapParamsCRD() map[string]any {
	return map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1",
		"kind":       "CustomResourceDefinition",
		"metadata":   map[string]any{"name": VAPParamsPlural + "." + VAPParamsGroup},
		"spec": map[string]any{
			"group": VAPParamsGroup,
			"names": map[string]any{"kind": VAPParamsKind, "listKind": VAPParamsKind + "List", "plural": VAPParamsPlural, "singular": strings.ToLower(VAPParamsKind)},
			"scope": "Cluster",
			"versions": []any{map[string]any{
				"name": VAPParamsVersion, "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{
					"type":        "object",
					"description": "The parameters of one hpguard rule (spec), read by its ValidatingAdmissionPolicy.",
					"properties": map[string]any{
						"spec": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true},
					},
				}},
			}},
		},
	}
}

// vapYAML marshals objects as a YAML stream with the generated-file header.
func vapYAML(objs ...any) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString("# " + Header + "\n")
	for i, o := range objs {
		b, err := json.Marshal(o)
		if err != nil {
			return nil, err
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, err
		}
		if md, ok := m["metadata"].(map[string]any); ok {
			delete(md, "creationTimestamp")
		}
		if i > 0 {
			buf.WriteString("---\n")
		}
		enc := yaml3.NewEncoder(&buf)
		enc.SetIndent(2)
		if err := enc.Encode(m); err != nil {
			return nil, err
		}
		if err := enc.Close(); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}

// VAP generates the ValidatingAdmissionPolicy artifacts under VAPDir.
func VAP(s *spec.Spec) ([]File, error) {
	var files []File
	crd, err := vapYAML(vapParamsCRD())
	if err != nil {
		return nil, err
	}
	files = append(files, File{Path: VAPDir + "/params-crd.yaml", Data: crd})
	files = append(files, File{Path: VAPDir + "/embed.go", Data: []byte(vapEmbed)})
	for _, r := range s.Rules {
		p, err := ValidatingAdmissionPolicy(s, r)
		if err != nil {
			return nil, err
		}
		data, err := vapYAML(p)
		if err != nil {
			return nil, err
		}
		files = append(files, File{Path: VAPDir + "/policies/" + r.ID + ".yaml", Data: data})
	}
	for _, prof := range s.Ruleset.Profiles {
		for _, r := range s.Rules {
			sev, ok := prof.Rules[r.ID]
			if !ok {
				continue
			}
			// The parameters before the binding: kubectl applies a file's objects in order, and a
			// binding whose parameters do not exist yet denies every request (parameterNotFoundAction:
			// Deny) until they do.
			var objs []any
			if len(r.Parameters) > 0 {
				objs = append(objs, vapParams(r, prof.Name))
			}
			objs = append(objs, ValidatingAdmissionPolicyBinding(r, prof.Name, sev))
			data, err := vapYAML(objs...)
			if err != nil {
				return nil, err
			}
			files = append(files, File{Path: VAPDir + "/profiles/" + prof.Name + "/" + r.ID + ".yaml", Data: data})
		}
	}
	return files, nil
}

// vapEmbed is vap/embed.go: the policies and profiles embedded in the binary for `check --engine cel`.
const vapEmbed = `// Code generated by hpguard; DO NOT EDIT.

// Package vap holds the generated ValidatingAdmissionPolicies, their per-profile bindings and
// parameters, embedded so that hpguard evaluates exactly the policies it ships.
package vap

import (
	"embed"
	"io/fs"
)

//go:embed policies/*.yaml profiles/*/*.yaml
var files embed.FS

// FS returns policies/<rule>.yaml and profiles/<profile>/<rule>.yaml.
func FS() fs.FS { return files }
`
