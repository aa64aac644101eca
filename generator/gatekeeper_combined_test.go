package generator_test

import (
	"encoding/json"
	"path"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/hpguard/hpguard/generator"
)

// TestCombinedTemplate checks gatekeeper/combined/ against the spec: the template's Rego (main
// module and every library: the core, the selection and one per rule) compiles strictly as one
// set of modules; each profile has a deny and a warn Constraint exactly when it has rules of that
// severity, and together they list every rule of the profile once, under its severity, with its
// default parameters; a rule that is not listed is not evaluated (its findings are gated on the
// rules parameter).
func TestCombinedTemplate(t *testing.T) {
	s := loadSpec(t)
	files, err := generator.Gatekeeper(s)
	require.NoError(t, err)
	byPath := map[string][]byte{}
	for _, f := range files {
		byPath[f.Path] = f.Data
	}
	var ct struct {
		Spec struct {
			Targets []struct {
				Code []struct {
					Engine string `json:"engine"`
					Source struct {
						Rego string   `json:"rego"`
						Libs []string `json:"libs"`
					} `json:"source"`
				} `json:"code"`
			} `json:"targets"`
		} `json:"spec"`
	}
	b := byPath[path.Join(generator.GatekeeperDir, generator.CombinedTemplatePath())]
	require.NotNil(t, b)
	require.NoError(t, yaml.Unmarshal(b, &ct))
	require.Len(t, ct.Spec.Targets, 1)
	require.Len(t, ct.Spec.Targets[0].Code, 1, "Rego only")
	src := ct.Spec.Targets[0].Code[0].Source
	require.Len(t, src.Libs, 2+len(s.Rules), "the core, the selection and one library per rule")
	modules := map[string]string{"main.rego": src.Rego}
	for i, l := range src.Libs {
		modules[path.Join("lib", string(rune('a'+i))+".rego")] = l
	}
	_, err = ast.CompileModulesWithOpt(modules, ast.CompileOpts{EnablePrintStatements: false, ParserOptions: ast.ParserOptions{RegoVersion: ast.RegoV1}})
	require.NoError(t, err)
	for _, r := range s.Rules {
		require.Contains(t, src.Libs[1], `input.parameters.rules["`+r.ID+`"]`, "rule %s is gated on the Constraint listing it", r.ID)
	}

	for _, p := range s.Ruleset.Profiles {
		listed := map[string]string{}
		for _, severity := range []string{"deny", "warn"} {
			b, ok := byPath[path.Join(generator.GatekeeperDir, generator.CombinedConstraintPath(p.Name, severity))]
			want := false
			for _, sev := range p.Rules {
				want = want || string(sev) == severity
			}
			require.Equal(t, want, ok, "profile %s: a %s Constraint exactly when it has %s rules", p.Name, severity, severity)
			if !ok {
				continue
			}
			var c generator.Constraint
			require.NoError(t, yaml.Unmarshal(b, &c))
			require.Equal(t, severity, c.Spec.EnforcementAction)
			require.Equal(t, generator.CombinedKind(s), c.Kind)
			rules, _ := c.Spec.Parameters[generator.CombinedRulesParameter].(map[string]any)
			require.NotEmpty(t, rules)
			for id, params := range rules {
				require.NotContains(t, listed, id, "profile %s lists %s twice", p.Name, id)
				listed[id] = severity
				r := s.RuleByID(id)
				require.NotNil(t, r, id)
				want, _ := json.Marshal(r.ParamDefaults())
				if len(r.ParamDefaults()) == 0 {
					want = []byte("{}")
				}
				got, _ := json.Marshal(params)
				require.JSONEq(t, string(want), string(got), "profile %s rule %s: default parameters", p.Name, id)
			}
		}
		require.Len(t, listed, len(p.Rules), "profile %s", p.Name)
		for id, sev := range p.Rules {
			require.Equal(t, string(sev), listed[id], "profile %s rule %s", p.Name, id)
		}
	}
}
