package tests

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/hpguard/hpguard/internal/check"
	"github.com/hpguard/hpguard/internal/engine"
	"github.com/hpguard/hpguard/internal/manifest"
	"github.com/hpguard/hpguard/internal/report"
)

// suppressedPod is a HostProcess pod without hostNetwork that carries a suppression annotation,
// with its reason, for the rule it breaks.
const suppressedPod = `apiVersion: v1
kind: Pod
metadata:
  name: suppressed
  namespace: hpc
  annotations:
    hpguard.io/ignore-host-network-required: "accepted for the test: suppressions are for CI only"
spec:
  nodeSelector: {kubernetes.io/os: windows}
  securityContext:
    windowsOptions: {hostProcess: true, runAsUserName: "NT AUTHORITY\\LocalService"}
  containers:
    - name: c
      image: registry.example.com/c:1.0
      resources: {limits: {cpu: 100m, memory: 64Mi}}
`

// TestSuppressionsAreNotHonouredAtAdmission: suppression annotations are a feature of `hpguard
// check` only. The cluster artifacts never read them: Gatekeeper's engine on the shipped templates,
// the shipped ValidatingAdmissionPolicies (cel) and the bundle's admission entry point still deny
// the pod, while `hpguard check` with each engine reports the finding suppressed and passes.
func TestSuppressionsAreNotHonouredAtAdmission(t *testing.T) {
	ctx := context.Background()
	const profile, rule = "hostprocess", "host-network-required"
	var obj map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(suppressedPod), &obj))
	hasDeny := func(fs []report.Finding) bool {
		for _, f := range fs {
			if f.Rule == rule && f.Severity == report.SeverityDeny {
				return true
			}
		}
		return false
	}

	pol := newEvaluators(t).policy
	adm, err := engine.NewOPAAdmission(ctx, pol, profile, engine.Params{})
	require.NoError(t, err)
	got, resp, err := adm.Review(ctx, admissionReview(obj, "uid-suppressed"))
	require.NoError(t, err)
	require.True(t, hasDeny(got), "OPA admission entry point: %s", describe(got))
	require.Equal(t, false, resp["allowed"], "the AdmissionReview response denies the pod")

	gk := gatekeepers{}.get(t, profile, rule, nil)
	got, err = gk.Evaluate(ctx, obj)
	require.NoError(t, err)
	require.True(t, hasDeny(got), "Gatekeeper: %s", describe(got))

	cel := cels{}.get(t, profile, rule, nil)
	got, err = cel.Evaluate(ctx, obj)
	require.NoError(t, err)
	require.True(t, hasDeny(got), "ValidatingAdmissionPolicies (cel): %s", describe(got))

	file := filepath.Join(t.TempDir(), "pod.yaml")
	require.NoError(t, os.WriteFile(file, []byte(suppressedPod), 0o600))
	evaluators := map[string]engine.Evaluator{"opa": newEvaluators(t).get(t, profile, rule, nil), "gatekeeper": gk, "cel": cel}
	for name, ev := range evaluators {
		rep, err := check.Run(ctx, check.Options{Paths: []string{file}, Evaluator: ev, Profile: profile, Workers: 1,
			Limits: manifest.DefaultOptions(), KnownRule: func(id string) bool { return pol.Ruleset.Rules[id] != nil }})
		require.NoError(t, err)
		require.Equal(t, 1, rep.Summary.Suppressed, "hpguard check --engine %s", name)
		require.Zero(t, rep.Summary.Deny, "hpguard check --engine %s", name)
		require.Equal(t, 0, check.ExitCode(rep, report.SeverityDeny), "hpguard check --engine %s", name)
		f := rep.Results[0].Findings[0]
		require.Equal(t, rule, f.Rule)
		require.Equal(t, &report.Suppression{Reason: "accepted for the test: suppressions are for CI only",
			Annotation: "hpguard.io/ignore-host-network-required"}, f.Suppression)
	}
}
