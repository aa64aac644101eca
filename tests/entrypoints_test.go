package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hpguard/hpguard/internal/engine"
	"github.com/hpguard/hpguard/internal/report"
)

// decoyBenign and decoyHostProcess are objects that a manifest might carry in fields shaped like an
// admission wrapper (review.object, request.object): the API server drops such fields, so they must
// never change what is evaluated.
var (
	decoyBenign = map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": "decoy", "namespace": "hpc"},
		"spec":     map[string]any{"containers": []any{map[string]any{"name": "c", "image": "busybox"}}},
	}
	decoyHostProcess = map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": "decoy", "namespace": "hpc"},
		"spec": map[string]any{
			"securityContext": map[string]any{"windowsOptions": map[string]any{"hostProcess": true, "runAsUserName": "Administrators"}, "runAsNonRoot": true},
			"containers":      []any{map[string]any{"name": "c", "image": "busybox"}},
		},
	}
)

// withDecoys returns a copy of obj carrying both decoys in admission-shaped top-level fields.
func withDecoys(obj map[string]any) map[string]any {
	out := make(map[string]any, len(obj)+2)
	for k, v := range obj {
		out[k] = v
	}
	out["review"] = map[string]any{"object": decoyBenign, "kind": map[string]any{"kind": "Pod"}, "operation": "CREATE"}
	out["request"] = map[string]any{"object": decoyHostProcess, "operation": "DELETE"}
	return out
}

// admissionReview wraps obj as the API server sends it to a validating webhook.
func admissionReview(obj map[string]any, uid string) map[string]any {
	return map[string]any{
		"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
		"request": map[string]any{"uid": uid, "operation": "CREATE", "object": obj, "namespace": "hpc"},
	}
}

// admissions caches one admission entry point per profile and parameter set.
type admissions map[string]*engine.OPAAdmission

func (a admissions) get(t testing.TB, p *engine.Policy, profile, rule string, params map[string]any) *engine.OPAAdmission {
	t.Helper()
	ps := engine.Params{}
	if len(params) > 0 {
		ps[rule] = params
	}
	key, _ := json.Marshal([]any{profile, ps})
	if ev := a[string(key)]; ev != nil {
		return ev
	}
	ev, err := engine.NewOPAAdmission(context.Background(), p, profile, ps)
	require.NoError(t, err)
	a[string(key)] = ev
	return ev
}

// TestEntryPointsChooseTheObject evaluates every golden case under every profile that has its rule
// through every entry point, with decoy fields shaped like admission wrappers added to the
// manifest: the manifest entry (OPA, as hpguard check and conftest query it), the admission entry
// for an AdmissionReview (OPA as a webhook, including its response), Gatekeeper's engine
// (input.review) and the shipped ValidatingAdmissionPolicies (the Pod form of each case, under the
// strict profile). Every one must give the findings of
// the plain manifest: no field of a manifest redirects, hides or replaces the object under review.
func TestEntryPointsChooseTheObject(t *testing.T) {
	ctx := context.Background()
	opa := newEvaluators(t)
	adm := admissions{}
	gks, cs := gatekeepers{}, cels{}
	compared, denied := 0, 0
	for i, c := range loadCases(t) {
		obj := caseObject(t, c)
		decoyed := withDecoys(obj)
		for _, prof := range opa.policy.Ruleset.Profiles {
			if _, ok := prof.Rules[c.Rule]; !ok {
				continue
			}
			want, err := opa.get(t, prof.Name, c.Rule, c.Params).Evaluate(ctx, obj)
			require.NoError(t, err)
			check := func(who string, got []report.Finding) {
				t.Helper()
				if !equalFindings(nonNil(want), nonNil(got)) {
					t.Errorf("%s (profile %s, %s): %s disagrees with the plain manifest\nwant:%s\ngot:%s", c.Name, prof.Name, c.File, who, describe(want), describe(got))
				}
			}
			got, err := opa.get(t, prof.Name, c.Rule, c.Params).Evaluate(ctx, decoyed)
			require.NoError(t, err)
			check("manifest entry with decoys", got)

			uid := fmt.Sprintf("uid-%d", i)
			got, resp, err := adm.get(t, opa.policy, prof.Name, c.Rule, c.Params).Review(ctx, admissionReview(decoyed, uid))
			require.NoError(t, err)
			check("admission entry (AdmissionReview) with decoys", got)
			deny := false
			for _, f := range want {
				deny = deny || f.Severity == report.SeverityDeny
			}
			require.Equal(t, uid, resp["uid"], "%s: response uid", c.Name)
			require.Equal(t, !deny, resp["allowed"], "%s (profile %s): response allowed", c.Name, prof.Name)
			if deny {
				denied++
				status, _ := resp["status"].(map[string]any)
				require.NotEmpty(t, status["message"], "%s: a denial carries its messages", c.Name)
			}

			// Gatekeeper and CEL take the object from the admission request by construction: one
			// profile with every rule and the Pod form of each case keep their share short.
			if prof.Name == "strict" && c.Kind == "Pod" {
				got, err = gks.get(t, prof.Name, c.Rule, c.Params).Evaluate(ctx, decoyed)
				require.NoError(t, err)
				check("Gatekeeper (input.review) with decoys", got)
				got, err = cs.get(t, prof.Name, c.Rule, c.Params).Evaluate(ctx, decoyed)
				require.NoError(t, err)
				check("CEL (vap/) with decoys", got)
			}
			compared++
		}
	}
	t.Logf("%d case x profile evaluations through every entry point with decoys (%d denied by the admission response)", compared, denied)
	require.Greater(t, denied, 0)
}

// TestAdmissionEntryIgnoresAWrappedManifest: an AdmissionReview whose object is benign but whose
// object carries a HostProcess pod in decoy fields is admitted; a HostProcess pod carrying a benign
// decoy is denied, through the admission entry and the manifest entry alike.
func TestAdmissionEntryIgnoresAWrappedManifest(t *testing.T) {
	ctx := context.Background()
	opa := newEvaluators(t)
	adm := admissions{}
	benign := withDecoys(decoyBenign)
	benign["request"] = map[string]any{"object": decoyHostProcess}
	benign["review"] = map[string]any{"object": decoyHostProcess}
	hostile := withDecoys(decoyHostProcess)
	for _, profile := range []string{"baseline", "hostprocess", "strict"} {
		fs, resp, err := adm.get(t, opa.policy, profile, "", nil).Review(ctx, admissionReview(benign, "a"))
		require.NoError(t, err)
		require.Empty(t, fs, profile)
		require.Equal(t, true, resp["allowed"], profile)
		fs, resp, err = adm.get(t, opa.policy, profile, "", nil).Review(ctx, admissionReview(hostile, "b"))
		require.NoError(t, err)
		require.NotEmpty(t, fs, profile)
		require.Equal(t, false, resp["allowed"], profile)

		fs, err = opa.get(t, profile, "", nil).Evaluate(ctx, benign)
		require.NoError(t, err)
		require.Empty(t, fs, profile)
		fs, err = opa.get(t, profile, "", nil).Evaluate(ctx, hostile)
		require.NoError(t, err)
		require.NotEmpty(t, fs, profile)
	}
	// An AdmissionReview given to the manifest entry is not a workload: it is not evaluated as its
	// request's object (hpguard check skips it; the entry point does not look inside).
	fs, err := opa.get(t, "strict", "", nil).Evaluate(ctx, admissionReview(decoyHostProcess, "c"))
	require.NoError(t, err)
	require.Empty(t, fs)
}

func nonNil(fs []report.Finding) []report.Finding {
	if fs == nil {
		return []report.Finding{}
	}
	return fs
}
