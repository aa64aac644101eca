package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hpguard/hpguard/internal/engine"
	"github.com/hpguard/hpguard/internal/golden"
	"github.com/hpguard/hpguard/internal/report"
	"github.com/hpguard/hpguard/policies"
)

// goldenDir is the committed golden directory (golden.Dir), as the tests see it.
func goldenDir() fs.FS { return os.DirFS("golden") }

// loadCases reads the golden index (the cases without their manifests; see caseObject).
func loadCases(t testing.TB) []golden.Case {
	t.Helper()
	cases, err := golden.LoadIndex(goldenDir())
	require.NoError(t, err)
	return cases
}

// caseObject reads a golden case's manifest.
func caseObject(t testing.TB, c golden.Case) map[string]any {
	t.Helper()
	require.NoError(t, c.LoadObject(goldenDir()))
	return c.Object
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
		obj := caseObject(t, c)
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
