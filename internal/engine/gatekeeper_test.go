package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/hpguard/hpguard/gatekeeper"
	"github.com/hpguard/hpguard/internal/engine"
	"github.com/hpguard/hpguard/internal/report"
	"github.com/hpguard/hpguard/policies"
)

const baseImage = "mcr.microsoft.com/oss/kubernetes/windows-host-process-containers-base-image:v1.0.0"

// hostProcessPod is a HostProcess pod configured as the documentation asks (no finding under the
// hostprocess profile).
func hostProcessPod() map[string]any {
	return map[string]any{
		"apiVersion": "v1",
		"kind":       "Pod",
		"metadata":   map[string]any{"name": "agent", "namespace": "hpc"},
		"spec": map[string]any{
			"hostNetwork":  true,
			"nodeSelector": map[string]any{"kubernetes.io/os": "windows"},
			"securityContext": map[string]any{"windowsOptions": map[string]any{
				"hostProcess":   true,
				"runAsUserName": `NT AUTHORITY\LocalService`,
			}},
			"containers": []any{map[string]any{
				"name":      "agent",
				"image":     baseImage,
				"resources": map[string]any{"limits": map[string]any{"cpu": "100m", "memory": "64Mi"}},
			}},
		},
	}
}

// debugUpdate is the request `kubectl debug` sends: an UPDATE of the pods/ephemeralcontainers
// subresource adding container to pod.
func debugUpdate(t *testing.T, pod map[string]any, container map[string]any) *admissionv1.AdmissionRequest {
	t.Helper()
	oldRaw, err := json.Marshal(pod)
	require.NoError(t, err)
	var updated map[string]any
	require.NoError(t, json.Unmarshal(oldRaw, &updated))
	updated["spec"].(map[string]any)["ephemeralContainers"] = []any{container}
	newRaw, err := json.Marshal(updated)
	require.NoError(t, err)
	gvk := metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}
	gvr := metav1.GroupVersionResource{Version: "v1", Resource: "pods"}
	return &admissionv1.AdmissionRequest{
		UID: "1", Kind: gvk, Resource: gvr, SubResource: "ephemeralcontainers",
		RequestKind: &gvk, RequestResource: &gvr, RequestSubResource: "ephemeralcontainers",
		Name: "agent", Namespace: "hpc", Operation: admissionv1.Update,
		Object: runtime.RawExtension{Raw: newRaw}, OldObject: runtime.RawExtension{Raw: oldRaw},
	}
}

func newGatekeeper(t *testing.T, profile string, params engine.Params) *engine.Gatekeeper {
	t.Helper()
	g, err := engine.NewGatekeeper(context.Background(), gatekeeper.FS(), profile, params)
	require.NoError(t, err)
	return g
}

func rulesOf(fs []report.Finding) []string {
	out := []string{}
	for _, f := range fs {
		out = append(out, f.Severity+" "+f.Rule+" "+f.Field)
	}
	return out
}

func TestGatekeeperValidPodHasNoFinding(t *testing.T) {
	g := newGatekeeper(t, "hostprocess", nil)
	fs, err := g.Evaluate(context.Background(), hostProcessPod())
	require.NoError(t, err)
	require.Empty(t, fs)
}

func TestGatekeeperEphemeralContainerUpdateDenied(t *testing.T) {
	ctx := context.Background()
	pod := hostProcessPod()
	debug := map[string]any{"name": "debug", "image": "busybox"}

	// hostprocess: a HostProcess pod gets a non-HostProcess ephemeral container (explicitly false).
	g := newGatekeeper(t, "hostprocess", nil)
	ctr := map[string]any{"name": "debug", "image": baseImage, "securityContext": map[string]any{"windowsOptions": map[string]any{"hostProcess": false}}}
	fs, err := g.ReviewRequest(ctx, debugUpdate(t, pod, ctr))
	require.NoError(t, err)
	require.Contains(t, rulesOf(fs), "deny hostprocess-values-agree spec.ephemeralContainers[0].securityContext.windowsOptions.hostProcess")
	for _, f := range fs {
		require.Equal(t, "debug", f.Container, "%v", f)
	}

	// The same request without the new container is allowed: only the UPDATE adds the problem.
	req := debugUpdate(t, pod, debug)
	req.Object = req.OldObject
	fs, err = g.ReviewRequest(ctx, req)
	require.NoError(t, err)
	require.Empty(t, fs)

	// baseline: an ordinary pod gets a HostProcess ephemeral container with kubectl debug.
	plain := map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": "agent", "namespace": "apps"},
		"spec":     map[string]any{"containers": []any{map[string]any{"name": "app", "image": "registry.example.com/app:1"}}},
	}
	hp := map[string]any{"name": "debug", "image": "busybox", "securityContext": map[string]any{"windowsOptions": map[string]any{"hostProcess": true}}}
	g = newGatekeeper(t, "baseline", nil)
	fs, err = g.ReviewRequest(ctx, debugUpdate(t, plain, hp))
	require.NoError(t, err)
	require.Equal(t, []string{"deny hostprocess-disallowed spec.ephemeralContainers[0].securityContext.windowsOptions.hostProcess"}, rulesOf(fs))
}

func TestGatekeeperExemptions(t *testing.T) {
	ctx := context.Background()
	hp := map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": "csi", "namespace": "kube-system"},
		"spec": map[string]any{
			"serviceAccountName": "csi-proxy",
			"securityContext":    map[string]any{"windowsOptions": map[string]any{"hostProcess": true}},
			"containers": []any{
				map[string]any{"name": "a", "image": baseImage},
				map[string]any{"name": "b", "image": "registry.example.com/other:v1"},
			},
		},
	}
	want := []string{"deny hostprocess-disallowed spec.securityContext.windowsOptions.hostProcess"}
	for _, tc := range []struct {
		name   string
		params map[string]any
		want   []string
	}{
		{"none", nil, want},
		{"namespace", map[string]any{"exemptNamespaces": []any{"kube-system"}}, nil},
		{"other namespace", map[string]any{"exemptNamespaces": []any{"hpc"}}, want},
		{"namespace is not a prefix", map[string]any{"exemptNamespaces": []any{"kube-"}}, want},
		{"service account", map[string]any{"exemptServiceAccounts": []any{"kube-system/csi-proxy"}}, nil},
		{"service account of another namespace", map[string]any{"exemptServiceAccounts": []any{"hpc/csi-proxy"}}, want},
		{"every image exempt", map[string]any{"exemptImages": []any{baseImage, "registry.example.com/*"}}, nil},
		{"one image not exempt", map[string]any{"exemptImages": []any{baseImage}}, want},
		{"prefix without star", map[string]any{"exemptImages": []any{"mcr.microsoft.com/", "registry.example.com/"}}, want},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ps engine.Params
			if tc.params != nil {
				ps = engine.Params{"hostprocess-disallowed": tc.params}
			}
			g := newGatekeeper(t, "baseline", ps)
			fs, err := g.Evaluate(ctx, hp)
			require.NoError(t, err)
			got := rulesOf(fs)
			if tc.want == nil {
				require.Empty(t, got)
			} else {
				require.Equal(t, tc.want, got)
			}
		})
	}
}

func TestGatekeeperParams(t *testing.T) {
	ctx := context.Background()
	for _, ps := range []engine.Params{
		{"no-such-rule": {"x": 1}},
		{"hostprocess-disallowed": {"exemptNamespace": []any{"a"}}},
		{"hostprocess-disallowed": {"exemptNamespaces": "a"}},
		{"run-as-user-name-allowed": {"allowedLocalGroups": "hpc"}}, // not in baseline: still validated
	} {
		_, err := engine.NewGatekeeper(ctx, gatekeeper.FS(), "baseline", ps)
		require.Error(t, err, "%v", ps)
		require.True(t, errors.Is(err, engine.ErrParams), "%v: %v", ps, err)
	}
	_, err := engine.NewGatekeeper(ctx, gatekeeper.FS(), "nope", nil)
	require.ErrorContains(t, err, `unknown profile "nope"`)
}

// Every workload kind and group `hpguard check` evaluates reaches a Constraint, the old extensions
// group included, with the same findings as the OPA engine.
func TestGatekeeperWorkloadGroups(t *testing.T) {
	ctx := context.Background()
	policy, err := engine.LoadPolicy(policies.Rego())
	require.NoError(t, err)
	opa, err := engine.NewOPA(ctx, policy, "hostprocess", nil)
	require.NoError(t, err)
	g := newGatekeeper(t, "hostprocess", nil)
	pod := hostProcessPod()
	spec := pod["spec"].(map[string]any)
	delete(spec, "hostNetwork")
	template := map[string]any{"metadata": map[string]any{"labels": map[string]any{"app": "a"}}, "spec": spec}
	for _, apiVersion := range []string{"apps/v1", "extensions/v1beta1"} {
		for _, kind := range []string{"Deployment", "DaemonSet", "ReplicaSet"} {
			obj := map[string]any{"apiVersion": apiVersion, "kind": kind, "metadata": map[string]any{"name": "a"}, "spec": map[string]any{"template": template}}
			want, err := opa.Evaluate(ctx, obj)
			require.NoError(t, err)
			got, err := g.Evaluate(ctx, obj)
			require.NoError(t, err)
			require.Equal(t, want, got, "%s %s", apiVersion, kind)
			require.Equal(t, []string{"deny host-network-required spec.template.spec.hostNetwork"}, rulesOf(got), "%s %s", apiVersion, kind)
		}
	}
}

// The check command evaluates documents from a pool of workers: one Gatekeeper serves them all.
func TestGatekeeperConcurrent(t *testing.T) {
	ctx := context.Background()
	g := newGatekeeper(t, "strict", nil)
	pod := hostProcessPod()
	want, err := g.Evaluate(ctx, pod)
	require.NoError(t, err)
	require.NotEmpty(t, want)
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			for range 5 {
				got, err := g.Evaluate(ctx, pod)
				if err == nil && !equal(want, got) {
					err = errors.New("different findings under concurrency")
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 4 {
		require.NoError(t, <-errs)
	}
}

func equal(a, b []report.Finding) bool {
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
