package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/hpguard/hpguard/internal/engine"
	"github.com/hpguard/hpguard/internal/report"
	"github.com/hpguard/hpguard/policies"
)

// goldenCase mirrors an entry of tests/golden/cases.json.
type goldenCase struct {
	Name    string         `json:"name"`
	Rule    string         `json:"rule"`
	Allowed bool           `json:"allowed"`
	Kind    string         `json:"kind"`
	Level   string         `json:"level"`
	File    string         `json:"file"`
	Params  map[string]any `json:"params"`
	Expect  []struct {
		Field     string `json:"field"`
		Container string `json:"container"`
	} `json:"expect"`
}

func loadCases(t testing.TB) []goldenCase {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("golden", "cases.json"))
	require.NoError(t, err)
	var cases []goldenCase
	require.NoError(t, json.Unmarshal(b, &cases))
	require.NotEmpty(t, cases)
	return cases
}

func loadObject(t testing.TB, file string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", filepath.FromSlash(file)))
	require.NoError(t, err)
	var obj map[string]any
	require.NoError(t, yaml.Unmarshal(b, &obj))
	return obj
}

// evaluators caches one prepared evaluator per profile and parameter set.
type evaluators struct {
	policy *engine.Policy
	cache  map[string]*engine.OPA
}

func (e *evaluators) get(t testing.TB, profile, rule string, params map[string]any) *engine.OPA {
	t.Helper()
	ps := engine.Params{}
	if len(params) > 0 {
		ps[rule] = params
	}
	key, _ := json.Marshal([]any{profile, ps})
	if ev := e.cache[string(key)]; ev != nil {
		return ev
	}
	ev, err := engine.NewOPA(context.Background(), e.policy, profile, ps)
	require.NoError(t, err)
	e.cache[string(key)] = ev
	return ev
}

func newEvaluators(t testing.TB) *evaluators {
	p, err := engine.LoadPolicy(policiesFS())
	require.NoError(t, err)
	return &evaluators{policy: p, cache: map[string]*engine.OPA{}}
}

// TestGoldenOPA evaluates every golden case with the embedded OPA under every profile that includes
// the case's rule: an allowed value gives no finding of that rule, a disallowed value exactly the
// expected ones, with the profile's severity.
func TestGoldenOPA(t *testing.T) {
	evs := newEvaluators(t)
	rs := evs.policy.Ruleset
	cases := loadCases(t)
	covered := map[string]map[bool]bool{}
	kinds := map[string]bool{}
	for _, c := range cases {
		if covered[c.Rule] == nil {
			covered[c.Rule] = map[bool]bool{}
		}
		covered[c.Rule][c.Allowed] = true
		kinds[c.Kind] = true
		obj := loadObject(t, c.File)
		for _, prof := range rs.Profiles {
			sev, ok := prof.Rules[c.Rule]
			if !ok {
				continue
			}
			t.Run(prof.Name+"/"+c.Name, func(t *testing.T) {
				findings, err := evs.get(t, prof.Name, c.Rule, c.Params).Evaluate(context.Background(), obj)
				require.NoError(t, err)
				var got []string
				for _, f := range findings {
					require.NotEmpty(t, f.Message, "every finding has a message")
					if f.Rule == c.Rule {
						require.Equal(t, sev, f.Severity, "severity of %s in profile %s", c.Rule, prof.Name)
						require.Contains(t, f.Message, f.Field, "the message names the field path")
						got = append(got, f.Field+" | "+f.Container)
					}
				}
				want := []string{}
				for _, e := range c.Expect {
					want = append(want, e.Field+" | "+e.Container)
				}
				sort.Strings(got)
				got = slices.Compact(got) // several messages may concern one field
				sort.Strings(want)
				if got == nil {
					got = []string{}
				}
				require.Equal(t, want, got, "findings of %s for %s\nmessages: %s", c.Rule, c.File, messages(findings))
			})
		}
	}
	for _, id := range rs.RuleIDs() {
		require.True(t, covered[id][true] && covered[id][false], "rule %s needs allowed and disallowed golden cases", id)
	}
	require.Len(t, kinds, 9, "golden cases cover the nine workload kinds")
}

func messages(fs []report.Finding) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "\n  %s %s [%s] %s", f.Rule, f.Field, f.Container, f.Message)
	}
	return b.String()
}

// policiesFS is the embedded policy set the binary ships.
func policiesFS() fs.FS { return policies.Rego() }
