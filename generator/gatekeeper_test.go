package generator_test

import (
	"path"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/hpguard/hpguard/generator"
)

// TestGatekeeperArtifacts checks gatekeeper/ against the spec: one template per rule whose Rego
// (module and library) compiles strictly and reads no data but data.lib (Gatekeeper's rule); one
// Constraint per rule of each profile with the profile's severity as enforcement action and the
// defaults as parameters; the suite covers every golden case once, plus the ephemeral UPDATE
// reviews.
func TestGatekeeperArtifacts(t *testing.T) {
	s := loadSpec(t)
	files, err := generator.Gatekeeper(s)
	require.NoError(t, err)
	byPath := map[string][]byte{}
	for _, f := range files {
		require.True(t, strings.HasPrefix(f.Path, generator.GatekeeperDir+"/"), f.Path)
		byPath[f.Path] = f.Data
	}
	for _, r := range s.Rules {
		p := path.Join(generator.GatekeeperDir, generator.TemplatePath(r))
		require.Contains(t, byPath, p)
		var ct struct {
			Metadata struct {
				Name        string            `json:"name"`
				Annotations map[string]string `json:"annotations"`
			} `json:"metadata"`
			Spec struct {
				CRD struct {
					Spec struct {
						Names struct {
							Kind string `json:"kind"`
						} `json:"names"`
						Validation struct {
							OpenAPIV3Schema struct {
								Properties map[string]any `json:"properties"`
							} `json:"openAPIV3Schema"`
						} `json:"validation"`
					} `json:"spec"`
				} `json:"crd"`
				Targets []struct {
					Target     string   `json:"target"`
					Operations []string `json:"operations"`
					Code       []struct {
						Engine string `json:"engine"`
						Source struct {
							Version string   `json:"version"`
							Rego    string   `json:"rego"`
							Libs    []string `json:"libs"`
						} `json:"source"`
					} `json:"code"`
				} `json:"targets"`
			} `json:"spec"`
		}
		require.NoError(t, yaml.Unmarshal(byPath[p], &ct), p)
		kind := generator.ConstraintKind(s, r)
		require.Equal(t, kind, ct.Spec.CRD.Spec.Names.Kind)
		require.Equal(t, strings.ToLower(kind), ct.Metadata.Name)
		require.Equal(t, r.ID, ct.Metadata.Annotations[generator.RuleAnnotation])
		require.Len(t, ct.Spec.CRD.Spec.Validation.OpenAPIV3Schema.Properties, len(r.Parameters), p)
		require.Len(t, ct.Spec.Targets, 1)
		tg := ct.Spec.Targets[0]
		require.Equal(t, generator.GatekeeperTarget, tg.Target)
		require.Equal(t, []string{"CREATE", "UPDATE"}, tg.Operations, "UPDATE is not skipped")
		require.Len(t, tg.Code, 2, "Rego and K8sNativeValidation")
		require.Equal(t, "K8sNativeValidation", tg.Code[1].Engine)
		src := tg.Code[0].Source
		require.Equal(t, "Rego", tg.Code[0].Engine)
		require.Equal(t, "v1", src.Version)
		require.Len(t, src.Libs, 1)
		modules := map[string]*ast.Module{}
		for name, text := range map[string]string{"template.rego": src.Rego, "lib.rego": src.Libs[0]} {
			m, err := ast.ParseModuleWithOpts(name, text, ast.ParserOptions{RegoVersion: ast.RegoV1})
			require.NoError(t, err, "%s: %s", p, name)
			modules[name] = m
			check := func(ref ast.Ref) bool {
				if ref.HasPrefix(ast.DefaultRootRef) && len(ref) > 1 {
					require.True(t, ref.HasPrefix(ast.MustParseRef("data.lib")), "%s: %s reads %s", p, name, ref)
				}
				return false
			}
			for _, rule := range m.Rules {
				ast.WalkRefs(rule, check)
			}
			for _, imp := range m.Imports {
				ast.WalkRefs(imp, check)
			}
		}
		require.Equal(t, "data.lib.hpguard.core", modules["lib.rego"].Package.Path.String())
		c := ast.NewCompiler().WithStrict(true)
		c.Compile(modules)
		require.False(t, c.Failed(), "%s: %v", p, c.Errors)
		require.Contains(t, src.Rego, "violation contains")
	}
	templatesKust := string(byPath[path.Join(generator.GatekeeperDir, generator.TemplatesKustomization)])
	for _, r := range s.Rules {
		require.Contains(t, templatesKust, "- "+r.ID+"\n", "every template is in templates/kustomization.yaml")
	}
	for _, prof := range s.Ruleset.Profiles {
		kust := string(byPath[path.Join(generator.GatekeeperDir, "profiles", prof.Name, "kustomization.yaml")])
		require.NotEmpty(t, kust)
		// A profile holds its Constraints only: the templates are installed, and waited for, first.
		require.NotContains(t, kust, "templates")
		for id, sev := range prof.Rules {
			r := s.RuleByID(id)
			p := path.Join(generator.GatekeeperDir, generator.ConstraintPath(prof.Name, r))
			var c generator.Constraint
			require.NoError(t, yaml.Unmarshal(byPath[p], &c), p)
			require.Equal(t, string(sev), c.Spec.EnforcementAction, p)
			require.Equal(t, "Original", c.Spec.Match.Source, p)
			require.Len(t, c.Spec.Match.Kinds, 4, p)
			require.Len(t, c.Spec.Parameters, len(r.Parameters), p)
			require.Contains(t, kust, "- "+id+".yaml\n")
		}
	}
	cases, err := generator.Cases(s)
	require.NoError(t, err)
	var suite struct {
		Tests []struct {
			Name       string `json:"name"`
			Template   string `json:"template"`
			Constraint string `json:"constraint"`
			Expansion  string `json:"expansion"`
			Cases      []struct {
				Object string `json:"object"`
			} `json:"cases"`
		} `json:"tests"`
	}
	require.NoError(t, yaml.Unmarshal(byPath[path.Join(generator.GatekeeperDir, "suite.yaml")], &suite))
	objects := map[string]int{}
	expanded := 0
	for _, tc := range suite.Tests {
		require.Contains(t, byPath, path.Join(generator.GatekeeperDir, tc.Template), tc.Name)
		require.Contains(t, byPath, path.Join(generator.GatekeeperDir, tc.Constraint), tc.Name)
		if tc.Expansion != "" {
			require.Contains(t, byPath, path.Join(generator.GatekeeperDir, tc.Expansion), tc.Name)
			expanded += len(tc.Cases)
			continue
		}
		for _, c := range tc.Cases {
			objects[c.Object]++
		}
	}
	require.Positive(t, expanded)
	ephemeral := 0
	for _, c := range cases {
		require.Equal(t, 1, objects["../"+c.File], c.Name)
		if c.Kind == "Pod" && c.Level == "ephemeralContainers" {
			ephemeral++
			rel := path.Join("tests", "ephemeral-update", strings.TrimPrefix(c.File, generator.GoldenDir+"/"))
			review := string(byPath[path.Join(generator.GatekeeperDir, rel)])
			require.Contains(t, review, "subResource: ephemeralcontainers", rel)
			require.Contains(t, review, "operation: UPDATE", rel)
			require.Equal(t, 1, objects[rel], rel)
		}
	}
	require.Positive(t, ephemeral)
	require.Len(t, objects, len(cases)+ephemeral)
}
