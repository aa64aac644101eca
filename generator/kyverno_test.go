package generator

import (
	"bytes"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/hpguard/hpguard/generator/spec"
)

// TestKyvernoArtifacts checks the Kyverno policies of every profile: one per rule of the profile,
// valid names, the validation actions of the rule's severity, pod-controller generation off, the
// VAP's match constraints, variables and validations, with hpParams holding the defaults in place
// of the params object; and the suite: one result per golden case of a rule in a profile, every
// resource name unique in its test and a DNS label.
func TestKyvernoArtifacts(t *testing.T) {
	s, err := spec.LoadDir(filepath.Join("..", "policies", "spec"))
	require.NoError(t, err)
	files, err := Kyverno(s)
	require.NoError(t, err)
	byPath := map[string][]byte{}
	for _, f := range files {
		byPath[f.Path] = f.Data
	}
	for _, prof := range s.Ruleset.Profiles {
		for _, r := range s.Rules {
			data, ok := byPath[path.Join(KyvernoDir, KyvernoPolicyPath(prof.Name, r))]
			sev, in := prof.Rules[r.ID]
			require.Equal(t, in, ok, "%s/%s", prof.Name, r.ID)
			if !ok {
				continue
			}
			var p kyvernoPolicy
			require.NoError(t, yaml.UnmarshalStrict(data, &p), "%s/%s", prof.Name, r.ID)
			require.Equal(t, "policies.kyverno.io/v1", p.APIVersion)
			require.Equal(t, "ValidatingPolicy", p.Kind)
			require.Empty(t, validation.IsDNS1123Subdomain(p.Metadata.Name))
			require.Equal(t, r.ID, p.Metadata.Annotations["hpguard.dev/rule"])
			require.Equal(t, prof.Name, p.Metadata.Labels["hpguard.dev/profile"])
			want := []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny, admissionregistrationv1.Audit}
			if sev == spec.Warn {
				want = []admissionregistrationv1.ValidationAction{admissionregistrationv1.Warn, admissionregistrationv1.Audit}
			}
			require.Equal(t, want, p.Spec.ValidationActions, "%s/%s", prof.Name, r.ID)
			require.Equal(t, map[string]any{"podControllers": map[string]any{"controllers": []any{}}}, p.Spec.Autogen)
			vap, err := ValidatingAdmissionPolicy(s, r)
			require.NoError(t, err)
			require.Equal(t, vap.Spec.MatchConstraints.ResourceRules, p.Spec.MatchConstraints.ResourceRules)
			require.Len(t, p.Spec.Variables, len(vap.Spec.Variables))
			for i, v := range p.Spec.Variables {
				if v.Name == KyvernoParamsVariable {
					lit, err := KyvernoParams(r.ParamDefaults())
					require.NoError(t, err)
					require.Equal(t, lit, v.Expression)
					require.True(t, strings.HasPrefix(v.Expression, "dyn({"))
					continue
				}
				require.Equal(t, vap.Spec.Variables[i], v, "%s variable %s", r.ID, v.Name)
			}
			require.Equal(t, len(r.Parameters) > 0, kyvernoParamsIndex(s, r.ID) >= 0)
			require.Len(t, p.Spec.Validations, 1)
			require.Equal(t, vap.Spec.Validations[0].Expression, p.Spec.Validations[0].Expression)
			require.Equal(t, vap.Spec.Validations[0].MessageExpression, p.Spec.Validations[0].MessageExpression)
		}
		require.Contains(t, byPath, path.Join(KyvernoDir, "profiles", prof.Name, "kustomization.yaml"))
	}

	cases, err := Cases(s)
	require.NoError(t, err)
	results := 0
	for p, data := range byPath {
		if path.Base(p) != "kyverno-test.yaml" {
			continue
		}
		var test kyvernoTest
		require.NoError(t, yaml.UnmarshalStrict(data, &test), p)
		names := map[string]bool{}
		for _, res := range test.Results {
			require.True(t, res.IsValidatingPolicy)
			require.Contains(t, []string{"pass", "fail"}, res.Result)
			for _, n := range res.Resources {
				require.False(t, names[n], "%s: %s twice", p, n)
				require.Empty(t, validation.IsDNS1123Label(n), n)
				names[n] = true
				results++
			}
		}
		docs := bytes.Count(byPath[path.Join(path.Dir(p), "resources.yaml")], []byte("\n---\n"))
		require.Equal(t, len(names), docs, "%s: one resource per result", p)
	}
	want := 0
	for _, c := range cases {
		if suiteProfile(s, s.RuleByID(c.Rule)) != "" {
			want++
		}
	}
	require.Equal(t, want, results)
}
