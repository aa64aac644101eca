package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	constraintclient "github.com/open-policy-agent/frameworks/constraint/pkg/client"
	"github.com/open-policy-agent/frameworks/constraint/pkg/client/drivers/rego"
	"github.com/open-policy-agent/frameworks/constraint/pkg/client/reviews"
	frameworksschema "github.com/open-policy-agent/frameworks/constraint/pkg/schema"
	expansionunversioned "github.com/open-policy-agent/gatekeeper/v3/apis/expansion/unversioned"
	expansionv1beta1 "github.com/open-policy-agent/gatekeeper/v3/apis/expansion/v1beta1"
	"github.com/open-policy-agent/gatekeeper/v3/pkg/expansion"
	"github.com/open-policy-agent/gatekeeper/v3/pkg/target"
	"github.com/stretchr/testify/require"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	structuralpruning "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	"github.com/hpguard/hpguard/gatekeeper"
	"github.com/hpguard/hpguard/internal/engine"
	"github.com/hpguard/hpguard/internal/manifest"
	"github.com/hpguard/hpguard/internal/report"
	"github.com/hpguard/hpguard/internal/workload"
	"github.com/hpguard/hpguard/vap"
)

// gatekeepers caches one Gatekeeper engine per profile and parameter set.
type gatekeepers map[string]*engine.Gatekeeper

func (g gatekeepers) get(t testing.TB, profile, rule string, params map[string]any) *engine.Gatekeeper {
	t.Helper()
	return cached(t, g, profile, rule, params, func(ps engine.Params) (*engine.Gatekeeper, error) {
		return engine.NewGatekeeper(context.Background(), gatekeeper.FS(), profile, ps)
	})
}

// cels caches CEL engines loaded from the shipped ValidatingAdmissionPolicies (vap/), as
// `hpguard check --engine cel` loads them.
type cels map[string]*engine.CEL

func (c cels) get(t testing.TB, profile, rule string, params map[string]any) *engine.CEL {
	t.Helper()
	return cached(t, c, profile, rule, params, func(ps engine.Params) (*engine.CEL, error) {
		return engine.LoadCEL(vap.FS(), profile, ps)
	})
}

// cached returns the engine for a profile and one rule's parameter overrides, building it once.
func cached[E any](t testing.TB, cache map[string]E, profile, rule string, params map[string]any, build func(engine.Params) (E, error)) E {
	t.Helper()
	ps := engine.Params{}
	if len(params) > 0 {
		ps[rule] = params
	}
	key, _ := json.Marshal([]any{profile, ps})
	if ev, ok := cache[string(key)]; ok {
		return ev
	}
	ev, err := build(ps)
	require.NoError(t, err)
	cache[string(key)] = ev
	return ev
}

func describe(fs []report.Finding) string {
	if len(fs) == 0 {
		return "\n  (no findings)"
	}
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "\n  %s %s %s [%s] %q", f.Severity, f.Rule, f.Field, f.Container, f.Message)
	}
	return b.String()
}

// TestGoldenEnginesAgree evaluates every golden case, under every profile that contains its rule,
// with the embedded OPA and with Gatekeeper's own engine (the generated ConstraintTemplates and
// the profile's Constraints): the findings of all rules must be identical, field for field.
func TestGoldenEnginesAgree(t *testing.T) {
	ctx := context.Background()
	opa := newEvaluators(t)
	gks, cs := gatekeepers{}, cels{}
	compared, withFindings := 0, 0
	for _, c := range loadCases(t) {
		obj := caseObject(t, c)
		for _, prof := range opa.policy.Ruleset.Profiles {
			if _, ok := prof.Rules[c.Rule]; !ok {
				continue
			}
			want, err := opa.get(t, prof.Name, c.Rule, c.Params).Evaluate(ctx, obj)
			require.NoError(t, err)
			if want == nil {
				want = []report.Finding{}
			}
			for _, other := range []struct {
				name string
				ev   engine.Evaluator
			}{
				{"Gatekeeper", gks.get(t, prof.Name, c.Rule, c.Params)},
				{"CEL (vap/)", cs.get(t, prof.Name, c.Rule, c.Params)},
			} {
				got, err := other.ev.Evaluate(ctx, obj)
				require.NoError(t, err)
				if got == nil {
					got = []report.Finding{}
				}
				if !equalFindings(want, got) {
					t.Errorf("%s (profile %s, %s): engines disagree\nOPA:%s\n%s:%s", c.Name, prof.Name, c.File, describe(want), other.name, describe(got))
				}
			}
			compared++
			if len(want) > 0 {
				withFindings++
			}
		}
	}
	t.Logf("compared %d evaluations of %d golden cases (%d with findings)", compared, len(loadCases(t)), withFindings)
	require.Greater(t, withFindings, 0)
}

// TestEnginesAgreeOnExamples runs the examples and the check command's test manifests (every
// workload document, as `hpguard check` selects them) through both engines under every profile.
func TestEnginesAgreeOnExamples(t *testing.T) {
	ctx := context.Background()
	opa := newEvaluators(t)
	gks := gatekeepers{}
	var files []string
	for _, pattern := range []string{"../examples/*.yaml", "../cmd/hpguard/testdata/check/*.yaml", "../cmd/hpguard/testdata/check/*.json"} {
		m, err := filepath.Glob(pattern)
		require.NoError(t, err)
		files = append(files, m...)
	}
	require.NotEmpty(t, files)
	n := 0
	for _, f := range files {
		docs, err := manifest.ReadFile(f, nil, manifest.DefaultOptions())
		if err != nil {
			continue
		}
		for _, d := range docs {
			if d.Err != nil {
				continue
			}
			apiVersion, _ := d.Object["apiVersion"].(string)
			kind, _ := d.Object["kind"].(string)
			if !workload.IsWorkload(apiVersion, kind) {
				continue
			}
			for _, prof := range opa.policy.Ruleset.Profiles {
				want, err := opa.get(t, prof.Name, "", nil).Evaluate(ctx, d.Object)
				require.NoError(t, err)
				got, err := gks.get(t, prof.Name, "", nil).Evaluate(ctx, d.Object)
				require.NoError(t, err)
				if !equalFindings(want, got) {
					t.Errorf("%s document %d (%s %s, profile %s): engines disagree\nOPA:%s\nGatekeeper:%s", f, d.Index, apiVersion, kind, prof.Name, describe(want), describe(got))
				}
				n++
			}
		}
	}
	t.Logf("compared %d evaluations", n)
	require.Positive(t, n)
}

func equalFindings(a, b []report.Finding) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestGatekeeperYAMLValid checks that `kubectl apply -k gatekeeper/profiles/<p>` would create valid
// objects: every ConstraintTemplate validates against the templates.gatekeeper.sh/v1 CRD schema
// (no unknown fields) and yields a valid Constraint CRD; every Constraint (profiles and gator
// suite) validates against the CRD generated from its template, match block included; every
// kustomization lists existing resources.
func TestGatekeeperYAMLValid(t *testing.T) {
	root := filepath.Join("..", "gatekeeper")
	fsys := os.DirFS(root)
	scheme := runtime.NewScheme()
	require.NoError(t, apiextensions.AddToScheme(scheme))
	require.NoError(t, apiextensionsv1.AddToScheme(scheme))
	structural, err := frameworksschema.CRDSchema(scheme, "v1")
	require.NoError(t, err)
	validator := validation.NewSchemaValidatorFromOpenAPI(structural.ToKubeOpenAPI())

	drv, err := rego.New()
	require.NoError(t, err)
	client, err := constraintclient.NewClient(constraintclient.Targets(&target.K8sValidationTarget{}), constraintclient.Driver(drv), constraintclient.EnforcementPoints(engine.GatekeeperEnforcementPoint))
	require.NoError(t, err)

	templates, err := fs.Glob(fsys, "templates/*/constrainttemplate.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, templates)
	kinds := map[string]bool{}
	for _, f := range templates {
		u := readUnstructured(t, fsys, f)
		errs := validation.ValidateCustomResource(field.NewPath(""), u.Object, validator)
		require.Empty(t, errs, "%s: %v", f, errs.ToAggregate())
		unknown := structuralpruning.PruneWithOptions(u.DeepCopy().Object, structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})
		require.Empty(t, unknown, "%s: unknown fields", f)
		b, err := fs.ReadFile(fsys, f)
		require.NoError(t, err)
		ct, err := engine.ParseConstraintTemplate(b)
		require.NoError(t, err, f)
		require.Equal(t, strings.ToLower(ct.Spec.CRD.Spec.Names.Kind), ct.GetName(), "%s: name is the lower-case kind", f)
		for _, a := range []string{"metadata.gatekeeper.sh/title", "metadata.gatekeeper.sh/version", "description"} {
			require.NotEmpty(t, ct.GetAnnotations()[a], "%s: annotation %s", f, a)
		}
		crd, err := client.CreateCRD(context.Background(), ct)
		require.NoError(t, err, f)
		require.NotNil(t, crd)
		_, err = client.AddTemplate(context.Background(), ct)
		require.NoError(t, err, f)
		kinds[ct.Spec.CRD.Spec.Names.Kind] = true
	}

	constraints, err := fs.Glob(fsys, "profiles/*/*.yaml")
	require.NoError(t, err)
	more, err := fs.Glob(fsys, "tests/constraints/*.yaml")
	require.NoError(t, err)
	n := 0
	for _, f := range append(constraints, more...) {
		if path.Base(f) == "kustomization.yaml" {
			continue
		}
		u := readUnstructured(t, fsys, f)
		require.True(t, kinds[u.GetKind()], "%s: no template of kind %s", f, u.GetKind())
		require.NoError(t, client.ValidateConstraint(u), f)
		action, _, _ := unstructured.NestedString(u.Object, "spec", "enforcementAction")
		require.Contains(t, []string{"deny", "warn"}, action, f)
		n++
	}
	require.Greater(t, n, 0)

	kusts, err := fs.Glob(fsys, "*/*/kustomization.yaml")
	require.NoError(t, err)
	top, err := fs.Glob(fsys, "*/kustomization.yaml")
	require.NoError(t, err)
	kusts = append(kusts, top...)
	for _, k := range kusts {
		var doc struct {
			Resources []string `json:"resources"`
		}
		b, err := fs.ReadFile(fsys, k)
		require.NoError(t, err)
		require.NoError(t, yaml.Unmarshal(b, &doc), k)
		require.NotEmpty(t, doc.Resources, k)
		for _, r := range doc.Resources {
			p := filepath.Join(root, filepath.FromSlash(path.Dir(k)), filepath.FromSlash(r))
			st, err := os.Stat(p)
			require.NoError(t, err, "%s: resource %s", k, r)
			if st.IsDir() {
				_, err := os.Stat(filepath.Join(p, "kustomization.yaml"))
				require.NoError(t, err, "%s: resource %s has no kustomization.yaml", k, r)
			}
		}
	}
	// The opt-in ExpansionTemplates are valid (typed, strict) and accepted by Gatekeeper's expansion.
	b, err := fs.ReadFile(fsys, "expansion/expansiontemplates.yaml")
	require.NoError(t, err)
	docs := strings.Split(string(b), "\n---\n")
	require.Len(t, docs, 8)
	for _, d := range docs {
		var et expansionv1beta1.ExpansionTemplate
		require.NoError(t, yaml.UnmarshalStrict([]byte(d), &et), d)
		var u expansionunversioned.ExpansionTemplate
		require.NoError(t, expansionv1beta1.Convert_v1beta1_ExpansionTemplate_To_unversioned_ExpansionTemplate(&et, &u, nil))
		require.NoError(t, expansion.ValidateTemplate(&u), et.Name)
	}

	// The checks above reject what they should.
	bad := readUnstructured(t, fsys, templates[0])
	require.NoError(t, unstructured.SetNestedField(bad.Object, "x", "spec", "unknownField"))
	require.NotEmpty(t, structuralpruning.PruneWithOptions(bad.Object, structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true}))
	bad = readUnstructured(t, fsys, templates[0])
	require.NoError(t, unstructured.SetNestedField(bad.Object, "x", "spec", "targets"))
	require.NotEmpty(t, validation.ValidateCustomResource(field.NewPath(""), bad.Object, validator))
	badConstraint := readUnstructured(t, fsys, "profiles/baseline/hostprocess-disallowed.yaml")
	require.NoError(t, unstructured.SetNestedField(badConstraint.Object, "kube-system", "spec", "parameters", "exemptNamespaces"))
	require.Error(t, client.ValidateConstraint(badConstraint))
	badConstraint = readUnstructured(t, fsys, "profiles/baseline/hostprocess-disallowed.yaml")
	require.NoError(t, unstructured.SetNestedField(badConstraint.Object, "Pod", "spec", "match", "kinds"))
	require.Error(t, client.ValidateConstraint(badConstraint))

	profiles, err := fs.Glob(fsys, "profiles/*/kustomization.yaml")
	require.NoError(t, err)
	var names []string
	for _, p := range profiles {
		names = append(names, path.Base(path.Dir(p)))
	}
	sort.Strings(names)
	require.Equal(t, []string{"baseline", "hostprocess", "strict"}, names)
}

func readUnstructured(t *testing.T, fsys fs.FS, name string) *unstructured.Unstructured {
	t.Helper()
	b, err := fs.ReadFile(fsys, name)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, yaml.Unmarshal(b, &m), name)
	return &unstructured.Unstructured{Object: m}
}

// TestGatekeeperExcludedNamespaces: Gatekeeper's own match exemption (excludedNamespaces, with
// prefix globs) applies to the generated Constraints, beside the rules' exemption parameters.
func TestGatekeeperExcludedNamespaces(t *testing.T) {
	ctx := context.Background()
	fsys := os.DirFS(filepath.Join("..", "gatekeeper"))
	b, err := fs.ReadFile(fsys, "templates/hostprocess-disallowed/constrainttemplate.yaml")
	require.NoError(t, err)
	ct, err := engine.ParseConstraintTemplate(b)
	require.NoError(t, err)
	drv, err := rego.New()
	require.NoError(t, err)
	client, err := constraintclient.NewClient(constraintclient.Targets(&target.K8sValidationTarget{}), constraintclient.Driver(drv), constraintclient.EnforcementPoints(engine.GatekeeperEnforcementPoint))
	require.NoError(t, err)
	_, err = client.AddTemplate(ctx, ct)
	require.NoError(t, err)
	con := readUnstructured(t, fsys, "profiles/baseline/hostprocess-disallowed.yaml")
	require.NoError(t, unstructured.SetNestedStringSlice(con.Object, []string{"kube-*"}, "spec", "match", "excludedNamespaces"))
	_, err = client.AddConstraint(ctx, con)
	require.NoError(t, err)
	for ns, want := range map[string]int{"kube-system": 0, "kube-node-lease": 0, "hpc": 1, "kubesystem": 1} {
		pod := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "Pod",
			"metadata": map[string]any{"name": "p", "namespace": ns},
			"spec": map[string]any{
				"securityContext": map[string]any{"windowsOptions": map[string]any{"hostProcess": true}},
				"containers":      []any{map[string]any{"name": "c", "image": "i"}},
			},
		}}
		resp, err := client.Review(ctx, target.AugmentedUnstructured{Object: *pod, Source: "Original"}, reviews.EnforcementPoint(engine.GatekeeperEnforcementPoint))
		require.NoError(t, err)
		require.Len(t, resp.Results(), want, ns)
	}
}
