package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/cel-go/checker"
	gktransform "github.com/open-policy-agent/gatekeeper/v3/pkg/drivers/k8scel/transform"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/util/version"
	celconfig "k8s.io/apiserver/pkg/apis/cel"

	"github.com/hpguard/hpguard/generator"
	"github.com/hpguard/hpguard/generator/spec"
	"github.com/hpguard/hpguard/internal/engine"
	"github.com/hpguard/hpguard/internal/golden"
	"github.com/hpguard/hpguard/internal/manifest"
	"github.com/hpguard/hpguard/internal/report"
	"github.com/hpguard/hpguard/policies"
)

// celFixture holds the spec, the OPA oracle and compiled CEL policies (by rule and parameters).
type celFixture struct {
	spec   *spec.Spec
	policy *engine.Policy
	mu     sync.Mutex
	opa    map[string]*engine.OPA
	cel    map[string]*engine.CEL
}

func newCELFixture(t testing.TB) *celFixture {
	s, err := spec.LoadDir(filepath.Join("..", "..", "policies", "spec"))
	require.NoError(t, err)
	p, err := engine.LoadPolicy(policies.Rego())
	require.NoError(t, err)
	return &celFixture{spec: s, policy: p, opa: map[string]*engine.OPA{}, cel: map[string]*engine.CEL{}}
}

func (f *celFixture) rule(id string) *spec.Rule {
	for _, r := range f.spec.Rules {
		if r.ID == id {
			return r
		}
	}
	return nil
}

// profileOf is a profile that has the rule (findings do not depend on the profile, only severity).
func (f *celFixture) profileOf(id string) (string, spec.Severity) {
	for _, p := range f.spec.Ruleset.Profiles {
		if sev, ok := p.Rules[id]; ok {
			return p.Name, sev
		}
	}
	return "", ""
}

func (f *celFixture) opaFor(t testing.TB, rule string, params map[string]any) *engine.OPA {
	f.mu.Lock()
	defer f.mu.Unlock()
	prof, _ := f.profileOf(rule)
	ps := engine.Params{}
	if len(params) > 0 {
		ps[rule] = params
	}
	key, _ := json.Marshal([]any{prof, ps})
	if o := f.opa[string(key)]; o != nil {
		return o
	}
	o, err := engine.NewOPA(context.Background(), f.policy, prof, ps)
	require.NoError(t, err)
	f.opa[string(key)] = o
	return o
}

func (f *celFixture) celFor(t testing.TB, rule string, params map[string]any) *engine.CEL {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.cel[rule]; c != nil {
		if id, ok := strings.CutPrefix(rule, "gatekeeper/"); ok {
			return c.WithParams(map[string]map[string]any{id: {"parameters": params}})
		}
		return c.WithParams(map[string]map[string]any{rule: params})
	}
	gatekeeper := strings.HasPrefix(rule, "gatekeeper/")
	rule = strings.TrimPrefix(rule, "gatekeeper/")
	r := f.rule(rule)
	require.NotNil(t, r, rule)
	prof, sev := f.profileOf(rule)
	vap, err := generator.ValidatingAdmissionPolicy(f.spec, r)
	require.NoError(t, err)
	cr, err := generator.CEL(f.spec, r, generator.CELParamsVAP)
	require.NoError(t, err)
	if gatekeeper {
		// The K8sNativeValidation form as Gatekeeper runs it: Gatekeeper binds variables.params to
		// the Constraint's spec.parameters (transform.BindParamsV1Beta1) before the template's
		// variables, and the params object is the Constraint.
		cr, err = generator.CEL(f.spec, r, generator.CELParamsGatekeeper)
		require.NoError(t, err)
		bind := gktransform.BindParamsV1Beta1()
		vap = vap.DeepCopy()
		vap.Spec.Variables = []admissionregistrationv1.Variable{{Name: bind.Name, Expression: bind.Expression}}
		for _, v := range cr.Variables {
			vap.Spec.Variables = append(vap.Spec.Variables, admissionregistrationv1.Variable{Name: v.Name, Expression: v.Expression})
		}
		vap.Spec.ParamKind = &admissionregistrationv1.ParamKind{APIVersion: "constraints.gatekeeper.sh/v1beta1", Kind: "Constraint"}
		c, err := engine.NewCEL(prof, []engine.CELPolicy{{Rule: rule, Severity: string(sev), Policy: vap, FindingsExpression: cr.FindingsExpression}})
		require.NoError(t, err)
		f.cel["gatekeeper/"+rule] = c
		return c.WithParams(map[string]map[string]any{rule: {"parameters": params}})
	}
	c, err := engine.NewCEL(prof, []engine.CELPolicy{{Rule: rule, Severity: string(sev), Policy: vap, FindingsExpression: cr.FindingsExpression}})
	require.NoError(t, err)
	f.cel[rule] = c
	return c.WithParams(map[string]map[string]any{rule: params})
}

func findingKeys(fs []report.Finding, rule string) []string {
	seen := map[string]bool{}
	out := []string{}
	for _, f := range fs {
		if f.Rule != rule {
			continue
		}
		k := fmt.Sprintf("%s | %s | %s", f.Field, f.Container, f.Message)
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// celCompare evaluates obj with OPA (the oracle) and with the rule's ValidatingAdmissionPolicy and
// returns a description of every difference (empty when they agree), and the CEL runtime cost.
func celCompare(t testing.TB, f *celFixture, rule string, params map[string]any, obj map[string]any) ([]string, int64) {
	return celCompareForm(t, f, rule, rule, params, obj)
}

// celCompareForm compares the OPA findings of rule with the CEL form named form ("<rule>" for the
// ValidatingAdmissionPolicy, "gatekeeper/<rule>" for the K8sNativeValidation form).
func celCompareForm(t testing.TB, f *celFixture, rule, form string, params map[string]any, obj map[string]any) ([]string, int64) {
	ctx := context.Background()
	opaFindings, err := f.opaFor(t, rule, params).Evaluate(ctx, obj)
	require.NoError(t, err)
	want := findingKeys(opaFindings, rule)
	var diffs []string
	var cost int64
	variants := []bool{false}
	if obj["kind"] == "Pod" {
		variants = append(variants, true) // UPDATE of pods/ephemeralcontainers
	}
	for _, ephemeral := range variants {
		ds, err := f.celFor(t, form, params).Review(ctx, obj, ephemeral)
		if err != nil {
			diffs = append(diffs, fmt.Sprintf("cel error (ephemeral=%v): %v", ephemeral, err))
			continue
		}
		d := ds[0]
		cost = max(cost, d.Cost)
		got := findingKeys(d.Findings, rule)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			diffs = append(diffs, fmt.Sprintf("findings differ (ephemeral=%v)\n  rego: %s\n  cel:  %s", ephemeral, strings.Join(want, "\n        "), strings.Join(got, "\n        ")))
		}
		if d.Denied != (len(want) > 0) {
			diffs = append(diffs, fmt.Sprintf("verdict differs (ephemeral=%v): rego findings %d, cel denied %v (%q)", ephemeral, len(want), d.Denied, d.Message))
		}
		if d.Denied {
			var msgs []string
			for _, x := range d.Findings {
				msgs = append(msgs, x.Message)
			}
			wantMsg := strings.TrimSpace(strings.Join(msgs, generator.CELMessageSeparator))
			if d.Message != wantMsg {
				diffs = append(diffs, fmt.Sprintf("message differs (ephemeral=%v)\n  findings: %q\n  vap:      %q", ephemeral, wantMsg, d.Message))
			}
			if len(want) == 1 && !strings.HasSuffix(want[0], " | "+d.Message) {
				diffs = append(diffs, fmt.Sprintf("message differs from rego\n  rego: %q\n  vap:  %q", want[0], d.Message))
			}
		}
	}
	return diffs, cost
}

// TestCELGolden evaluates every golden case with the generated ValidatingAdmissionPolicy of its
// rule, and with its Gatekeeper K8sNativeValidation form, through k8s.io/apiserver's validating
// admission policy machinery, and requires the same verdict, messages, fields and containers as
// the OPA engine (also for the UPDATE of pods/ephemeralcontainers of each Pod case).
func TestCELGolden(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: runs without -short (make test)")
	}
	f := newCELFixture(t)
	cases, err := golden.Load(os.DirFS(filepath.Join("..", "..", filepath.FromSlash(golden.Dir))))
	require.NoError(t, err)
	costs := map[string]int64{}
	compared, disagreements := 0, 0
	rules := map[string]bool{}
	for _, c := range cases {
		obj := c.Object
		diffs, cost := celCompare(t, f, c.Rule, c.Params, obj)
		gkDiffs, _ := celCompareForm(t, f, c.Rule, "gatekeeper/"+c.Rule, c.Params, obj)
		for _, d := range gkDiffs {
			diffs = append(diffs, "gatekeeper K8sNativeValidation form: "+d)
		}
		compared++
		rules[c.Rule] = true
		costs[c.Rule] = max(costs[c.Rule], cost)
		if len(diffs) > 0 {
			disagreements++
			msg := strings.Join(diffs, "\n")
			if len(msg) > 3000 {
				msg = msg[:3000] + "..."
			}
			t.Errorf("%s (%s):\n%s", c.Name, c.File, msg)
		}
	}
	var ids []string
	for id := range costs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		t.Logf("rule %-32s max runtime CEL cost on golden cases: %d", id, costs[id])
	}
	t.Logf("golden cases compared: %d, rules: %d, disagreements: %d", compared, len(rules), disagreements)
	require.Len(t, rules, len(f.spec.Rules), "every rule has golden cases evaluated by CEL")
}

// boundedSizes is a cost-estimator size bound: every list, map and string of the reviewed object and
// of the parameters has at most n elements (the Kubernetes estimator assumes unbounded sizes for a
// policy without a schema, which makes any expression that reads the object "too expensive").
type boundedSizes uint64

func (n boundedSizes) EstimateSize(checker.AstNode) *checker.SizeEstimate {
	return &checker.SizeEstimate{Min: 0, Max: uint64(n)}
}

func (boundedSizes) EstimateCallCost(string, string, *checker.AstNode, []checker.AstNode) *checker.CallEstimate {
	return nil
}

// celCostBound is the size bound of TestCELCost: 32 containers per list, 32 volumes, keys, values and
// parameter entries, and strings of 32 characters (longer names cost linearly more in regex and
// string functions; the API server enforces the same limits at run time whatever the size).
const celCostBound = 32

// TestCELCost estimates the cost of every expression of every generated policy with the Kubernetes
// CEL cost estimator (sizes bounded by celCostBound) and fails above the API server's per-expression
// limit (PerCallLimit) or, for the sum over a policy (every variable evaluated once, the validation
// and its message), the per-binding runtime budget (RuntimeCELCostBudget).
func TestCELCost(t *testing.T) {
	f := newCELFixture(t)
	for _, r := range f.spec.Rules {
		vap, err := generator.ValidatingAdmissionPolicy(f.spec, r)
		require.NoError(t, err)
		costs, err := engine.CELEstimatedCost(vap, boundedSizes(celCostBound))
		require.NoError(t, err)
		var total uint64
		worst := costs[0]
		for _, c := range costs {
			total += c.Max
			if c.Max > worst.Max {
				worst = c
			}
			assert.LessOrEqual(t, c.Max, uint64(celconfig.PerCallLimit), "rule %s %s: estimated cost above PerCallLimit", r.ID, c.Name)
		}
		assert.LessOrEqual(t, total, uint64(celconfig.RuntimeCELCostBudget), "rule %s: estimated policy cost above RuntimeCELCostBudget", r.ID)
		t.Logf("rule %-32s estimated max cost: policy %8d (budget %d), worst expression %s %d (limit %d)", r.ID, total, celconfig.RuntimeCELCostBudget, worst.Name, worst.Max, celconfig.PerCallLimit)
	}
}

// celProfile compiles every policy of a profile (parameters: the spec defaults).
func (f *celFixture) celProfile(t testing.TB, profile string) *engine.CEL {
	var ps []engine.CELPolicy
	for _, p := range f.spec.Ruleset.Profiles {
		if p.Name != profile {
			continue
		}
		for _, r := range f.spec.Rules {
			sev, ok := p.Rules[r.ID]
			if !ok {
				continue
			}
			vap, err := generator.ValidatingAdmissionPolicy(f.spec, r)
			require.NoError(t, err)
			cr, err := generator.CEL(f.spec, r, generator.CELParamsVAP)
			require.NoError(t, err)
			ps = append(ps, engine.CELPolicy{Rule: r.ID, Severity: string(sev), Policy: vap, FindingsExpression: cr.FindingsExpression})
		}
	}
	require.NotEmpty(t, ps, profile)
	c, err := engine.NewCEL(profile, ps)
	require.NoError(t, err)
	return c
}

// TestCELBypassCorpus evaluates every workload of the bypass corpus (tests/bypass) under every
// profile with all of the profile's policies and requires the same findings as the OPA engine.
func TestCELBypassCorpus(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: runs without -short (make test)")
	}
	f := newCELFixture(t)
	files, err := filepath.Glob(filepath.Join("..", "..", "tests", "bypass", "*"))
	require.NoError(t, err)
	workloads := 0
	for _, prof := range f.spec.Ruleset.Profiles {
		c := f.celProfile(t, prof.Name)
		o, err := engine.NewOPA(context.Background(), f.policy, prof.Name, nil)
		require.NoError(t, err)
		for _, file := range files {
			if ext := filepath.Ext(file); ext != ".yaml" && ext != ".json" {
				continue
			}
			docs, err := manifest.ReadFile(file, nil, manifest.DefaultOptions())
			require.NoError(t, err)
			for _, d := range docs {
				if d.Err != nil || d.Object == nil {
					continue
				}
				if _, ok := d.Object["kind"].(string); !ok {
					continue // the API server never admits a kindless object
				}
				workloads++
				want, err := o.Evaluate(context.Background(), d.Object)
				require.NoError(t, err)
				got, err := c.Evaluate(context.Background(), d.Object)
				require.NoError(t, err)
				var w, g []string
				for _, x := range want {
					w = append(w, fmt.Sprintf("%s | %s | %s | %s | %s", x.Rule, x.Severity, x.Field, x.Container, x.Message))
				}
				for _, x := range got {
					g = append(g, fmt.Sprintf("%s | %s | %s | %s | %s", x.Rule, x.Severity, x.Field, x.Container, x.Message))
				}
				sort.Strings(w)
				sort.Strings(g)
				w, g = compactStrings(w), compactStrings(g)
				if strings.Join(w, "\n") != strings.Join(g, "\n") {
					t.Errorf("%s %s document %d item %d:\n  rego: %s\n  cel:  %s", prof.Name, d.File, d.Index, d.Item, strings.Join(w, "\n        "), strings.Join(g, "\n        "))
				}
			}
		}
	}
	t.Logf("bypass corpus: %d workload evaluations (profiles x documents) compared", workloads)
	require.NotZero(t, workloads)
}

func compactStrings(xs []string) []string {
	var out []string
	for i, x := range xs {
		if i == 0 || x != xs[i-1] {
			out = append(out, x)
		}
	}
	return out
}

// TestCELRuntimeCostLargePod evaluates a large HostProcess pod (100 containers in each list, 100
// volumes, long account names, every rule firing) with every profile's policies: the API server's
// runtime limits (PerCallLimit per expression, RuntimeCELCostBudget per policy) must not be hit,
// since a policy over budget fails closed (failurePolicy Fail) and would reject the pod for the
// wrong reason.
func TestCELRuntimeCostLargePod(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: runs without -short (make test)")
	}
	f := newCELFixture(t)
	long := strings.Repeat("x", 200)
	container := func(list string, i int) map[string]any {
		return map[string]any{
			"name":  fmt.Sprintf("%s-%d-%s", list, i, long),
			"image": "mcr.microsoft.com/oss/kubernetes/windows-host-process-containers-base-image:v1.0.0",
			"securityContext": map[string]any{"runAsNonRoot": true, "windowsOptions": map[string]any{
				"hostProcess": i%2 == 0, "runAsUserName": "NT AUTHORITY\\" + long}},
		}
	}
	spec := map[string]any{
		"hostNetwork": false, "os": map[string]any{"name": "linux"},
		"securityContext": map[string]any{"windowsOptions": map[string]any{"hostProcess": true, "runAsUserName": "Administrators"}},
		"nodeSelector":    map[string]any{"kubernetes.io/os": "linux"},
	}
	var vols []any
	for i := 0; i < 100; i++ {
		vols = append(vols, map[string]any{"name": fmt.Sprint("v", i), "hostPath": map[string]any{"path": `\\.\pipe\` + long, "type": "Socket"}})
	}
	spec["volumes"] = vols
	for _, l := range []string{"initContainers", "containers", "ephemeralContainers"} {
		var cs []any
		for i := 0; i < 100; i++ {
			cs = append(cs, container(l, i))
		}
		spec[l] = cs
	}
	pod := map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": map[string]any{"name": "large", "namespace": "default",
		"annotations": map[string]any{"microsoft.com/hostprocess-inherit-user": "true"}}, "spec": spec}
	for _, prof := range f.spec.Ruleset.Profiles {
		c := f.celProfile(t, prof.Name)
		ds, err := c.Review(context.Background(), pod, false)
		require.NoError(t, err, "profile %s", prof.Name)
		var worst engine.CELDecision
		for _, d := range ds {
			require.LessOrEqual(t, d.Cost, int64(celconfig.RuntimeCELCostBudget), d.Rule)
			if d.Cost > worst.Cost {
				worst = d
			}
		}
		t.Logf("profile %s: large pod, highest runtime cost %d (%s), budget %d", prof.Name, worst.Cost, worst.Rule, celconfig.RuntimeCELCostBudget)
	}
}

// TestCELMinimumKubernetesVersion: every expression compiles as a new expression with the CEL
// environment of Kubernetes 1.32, which an API server of 1.33 or later uses for new policies.
func TestCELMinimumKubernetesVersion(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: runs without -short (make test)")
	}
	f := newCELFixture(t)
	for _, r := range f.spec.Rules {
		vap, err := generator.ValidatingAdmissionPolicy(f.spec, r)
		require.NoError(t, err)
		require.NoError(t, engine.CELCompileNew(vap, version.MajorMinor(1, 32)), r.ID)
		require.Error(t, engine.CELCompileNew(vap, version.MajorMinor(1, 31)), "%s: 1.31 has no two-variable comprehensions; update the documented minimum", r.ID)
	}
}

// TestCELVariableCacheKey: compiled variables are shared between policies only when everything
// before them is the same. Policies declare the same variable `twice` over an earlier variable `v`
// that differs in type (a string or a number): the type checker picks the overload of `+` from
// it, so each policy must have its own program for `twice`.
func TestCELVariableCacheKey(t *testing.T) {
	policy := func(v string) engine.CELPolicy {
		return engine.CELPolicy{Rule: "r", Severity: "deny", Policy: &admissionregistrationv1.ValidatingAdmissionPolicy{
			Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
				Variables: []admissionregistrationv1.Variable{
					{Name: "v", Expression: v},
					{Name: "twice", Expression: `variables.v + variables.v`},
				},
				Validations: []admissionregistrationv1.Validation{{Expression: `false`, MessageExpression: `"twice is " + string(variables.twice)`}},
			}}}
	}
	for _, tc := range []struct{ v, want string }{{`"a"`, "twice is aa"}, {`1`, "twice is 2"}, {`"b"`, "twice is bb"}, {`2.5`, "twice is 5"}} {
		c, err := engine.NewCEL("test", []engine.CELPolicy{policy(tc.v)})
		require.NoError(t, err)
		decisions, err := c.Review(context.Background(), map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": map[string]any{"name": "p"}}, false)
		require.NoError(t, err)
		require.Len(t, decisions, 1)
		assert.Equal(t, tc.want, decisions[0].Message, "v = %s", tc.v)
	}
}
