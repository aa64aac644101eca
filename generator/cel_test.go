package generator_test

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	. "github.com/hpguard/hpguard/generator"
	"github.com/hpguard/hpguard/generator/checks"
)

var celIdentRE = regexp.MustCompile(`^[_a-zA-Z][_a-zA-Z0-9]*$`)

// TestCELEveryRule: every rule of the spec has a CEL form, in both parameter flavours.
func TestCELEveryRule(t *testing.T) {
	s := loadSpec(t)
	used := map[string]bool{}
	for _, r := range s.Rules {
		used[r.Check.Kind] = true
	}
	for _, k := range checks.Names() {
		require.True(t, used[k], "check kind %s is used by no rule of the spec", k)
	}
	for _, r := range s.Rules {
		for _, root := range []string{CELParamsVAP, CELParamsGatekeeper} {
			c, err := CEL(s, r, root)
			require.NoError(t, err, r.ID)
			require.NotEmpty(t, c.Validations, r.ID)
			require.Equal(t, "findings", c.Variables[len(c.Variables)-1].Name, r.ID)
			seen := map[string]bool{}
			for _, v := range c.Variables {
				require.Regexp(t, celIdentRE, v.Name, "%s: variable names are CEL identifiers", r.ID)
				require.False(t, seen[v.Name], "%s: variable %s twice", r.ID, v.Name)
				require.NotEqual(t, "params", v.Name, "reserved by Gatekeeper")
				require.NotEqual(t, "anyObject", v.Name, "reserved by Gatekeeper")
				seen[v.Name] = true
			}
		}
	}
}

// splitYAML splits a YAML stream into documents.
func splitYAML(data []byte) [][]byte {
	var out [][]byte
	for _, d := range bytes.Split(data, []byte("\n---\n")) {
		if len(bytes.TrimSpace(d)) > 0 {
			out = append(out, d)
		}
	}
	return out
}

// TestVAPObjectsAreValid strictly decodes every generated ValidatingAdmissionPolicy, binding and
// the parameters CRD into the Kubernetes v1 types (unknown or mistyped fields fail) and checks the
// rules of the API server's validation that apply to them.
func TestVAPObjectsAreValid(t *testing.T) {
	s := loadSpec(t)
	files, err := VAP(s)
	require.NoError(t, err)
	policies, bindings := map[string]*admissionregistrationv1.ValidatingAdmissionPolicy{}, 0
	for _, f := range files {
		if !strings.HasSuffix(f.Path, ".yaml") {
			continue
		}
		for _, doc := range splitYAML(f.Data) {
			var meta struct {
				Kind string `json:"kind"`
			}
			require.NoError(t, yaml.Unmarshal(doc, &meta), f.Path)
			switch meta.Kind {
			case "ValidatingAdmissionPolicy":
				var p admissionregistrationv1.ValidatingAdmissionPolicy
				require.NoError(t, yaml.UnmarshalStrict(doc, &p), f.Path)
				require.Empty(t, validation.IsDNS1123Subdomain(p.Name), f.Path)
				require.Equal(t, "admissionregistration.k8s.io/v1", p.APIVersion)
				require.NotNil(t, p.Spec.FailurePolicy)
				require.NotNil(t, p.Spec.MatchConstraints)
				require.NotEmpty(t, p.Spec.MatchConstraints.ResourceRules)
				var resources []string
				for _, rr := range p.Spec.MatchConstraints.ResourceRules {
					require.ElementsMatch(t, []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update}, rr.Operations)
					for _, res := range rr.Resources {
						resources = append(resources, strings.Join(rr.APIGroups, ",")+"/"+res)
					}
				}
				require.Subset(t, resources, []string{"/pods", "/pods/ephemeralcontainers", "/podtemplates", "/replicationcontrollers",
					"apps/replicasets", "apps/deployments", "apps/daemonsets", "apps/statefulsets", "batch/jobs", "batch/cronjobs"}, f.Path)
				require.NotEmpty(t, p.Spec.Validations)
				for _, v := range p.Spec.Validations {
					require.NotEmpty(t, v.Expression)
					require.NotEmpty(t, v.MessageExpression)
				}
				for _, v := range p.Spec.Variables {
					require.Regexp(t, celIdentRE, v.Name)
				}
				if p.Spec.ParamKind != nil {
					require.Equal(t, VAPParamsGroup+"/"+VAPParamsVersion, p.Spec.ParamKind.APIVersion)
					require.Equal(t, VAPParamsKind, p.Spec.ParamKind.Kind)
				}
				policies[p.Name] = &p
			case "ValidatingAdmissionPolicyBinding":
				var b admissionregistrationv1.ValidatingAdmissionPolicyBinding
				require.NoError(t, yaml.UnmarshalStrict(doc, &b), f.Path)
				require.Empty(t, validation.IsDNS1123Subdomain(b.Name), f.Path)
				require.NotEmpty(t, b.Spec.ValidationActions)
				actions := map[admissionregistrationv1.ValidationAction]bool{}
				for _, a := range b.Spec.ValidationActions {
					require.Contains(t, []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny, admissionregistrationv1.Warn, admissionregistrationv1.Audit}, a)
					require.False(t, actions[a], "duplicate action")
					actions[a] = true
				}
				require.False(t, actions[admissionregistrationv1.Deny] && actions[admissionregistrationv1.Warn], "Deny and Warn together are invalid")
				bindings++
			case "HPGuardParameters":
				var obj map[string]any
				require.NoError(t, yaml.UnmarshalStrict(doc, &obj), f.Path)
			case "CustomResourceDefinition":
				var crd apiextensionsv1.CustomResourceDefinition
				require.NoError(t, yaml.UnmarshalStrict(doc, &crd), f.Path)
				require.Equal(t, VAPParamsPlural+"."+VAPParamsGroup, crd.Name)
			default:
				t.Fatalf("%s: unexpected kind %q", f.Path, meta.Kind)
			}
		}
	}
	require.Len(t, policies, len(s.Rules), "one policy per rule")
	n := 0
	for _, p := range s.Ruleset.Profiles {
		n += len(p.Rules)
	}
	require.Equal(t, n, bindings, "one binding per rule of each profile")
	// Bindings refer to existing policies, with a paramRef exactly when the policy has a paramKind.
	for _, f := range files {
		for _, doc := range splitYAML(f.Data) {
			var b admissionregistrationv1.ValidatingAdmissionPolicyBinding
			if yaml.Unmarshal(doc, &b) != nil || b.Kind != "ValidatingAdmissionPolicyBinding" {
				continue
			}
			p := policies[b.Spec.PolicyName]
			require.NotNil(t, p, "%s: policy %s", f.Path, b.Spec.PolicyName)
			require.Equal(t, p.Spec.ParamKind != nil, b.Spec.ParamRef != nil, f.Path)
		}
	}
}
