package engine

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"sigs.k8s.io/yaml"

	"github.com/hpguard/hpguard/internal/manifest"
	"github.com/hpguard/hpguard/internal/ruleset"
)

func init() {
	register(Kind{Name: "cel", Title: "CEL", Shipped: "the shipped ValidatingAdmissionPolicies",
		build: func(_ context.Context, src Sources, profile string, params Params) (Evaluator, error) {
			return evaluator(LoadCEL(src.VAP, profile, params))
		}})
}

// LoadCEL compiles a profile's ValidatingAdmissionPolicies from the generated vap/ directory
// (policies/<rule>.yaml, and profiles/<profile>/<rule>.yaml with each binding and its parameters
// object); params override the parameters objects' values per parameter, as for the other engines.
func LoadCEL(fsys fs.FS, profile string, params Params) (*CEL, error) {
	entries, err := fs.ReadDir(fsys, path.Join("profiles", profile))
	if err != nil {
		return nil, fmt.Errorf("cel: unknown profile %q: %w", profile, err)
	}
	var policies []CELPolicy
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".yaml") {
			continue
		}
		rule := strings.TrimSuffix(e.Name(), ".yaml")
		severity, ps, err := readCELBinding(fsys, path.Join("profiles", profile, e.Name()))
		if err != nil {
			return nil, err
		}
		data, err := fs.ReadFile(fsys, path.Join("policies", rule+".yaml"))
		if err != nil {
			return nil, fmt.Errorf("cel: policy of %s: %w", rule, err)
		}
		var vap admissionregistrationv1.ValidatingAdmissionPolicy
		if err := yaml.UnmarshalStrict(stripComments(data), &vap); err != nil {
			return nil, fmt.Errorf("cel: policies/%s.yaml: %w", rule, err)
		}
		if over := params[rule]; len(over) > 0 {
			if ps == nil {
				ps = map[string]any{}
			}
			for k, v := range over {
				ps[k] = v
			}
		}
		policies = append(policies, CELPolicy{Rule: rule, Severity: severity, Policy: &vap, Params: ps, FindingsExpression: ruleset.CELFindingsExpression})
	}
	if len(policies) == 0 {
		return nil, fmt.Errorf("cel: profile %q has no policies", profile)
	}
	sort.Slice(policies, func(i, j int) bool { return policies[i].Rule < policies[j].Rule })
	return NewCEL(profile, policies)
}

// readCELBinding reads a profile file: the binding gives the severity (Deny, else Warn), the
// HPGuardParameters object, when present, the parameters.
func readCELBinding(fsys fs.FS, name string) (string, map[string]any, error) {
	data, err := fs.ReadFile(fsys, name)
	if err != nil {
		return "", nil, fmt.Errorf("cel: %w", err)
	}
	docs, err := manifest.ReadBytes(name, data, manifest.DefaultOptions())
	if err != nil {
		return "", nil, fmt.Errorf("cel: %w", err)
	}
	severity := ""
	var params map[string]any
	for _, d := range docs {
		if d.Err != nil {
			return "", nil, fmt.Errorf("cel: %w", d.Err)
		}
		switch d.Kind() {
		case "ValidatingAdmissionPolicyBinding":
			spec, _ := d.Object["spec"].(map[string]any)
			actions, _ := spec["validationActions"].([]any)
			severity = "warn"
			if slices.Contains(actions, any("Deny")) {
				severity = "deny"
			}
		default:
			if spec, ok := d.Object["spec"].(map[string]any); ok {
				params = spec
			}
		}
	}
	if severity == "" {
		return "", nil, fmt.Errorf("cel: %s has no ValidatingAdmissionPolicyBinding", name)
	}
	return severity, params, nil
}

func stripComments(data []byte) []byte {
	var out bytes.Buffer
	for _, line := range bytes.SplitAfter(data, []byte("\n")) {
		if bytes.HasPrefix(line, []byte("#")) {
			continue
		}
		out.Write(line)
	}
	return out.Bytes()
}
