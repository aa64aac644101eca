package tests

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hpguard/hpguard/gatekeeper"
	"github.com/hpguard/hpguard/internal/check"
	"github.com/hpguard/hpguard/internal/engine"
	"github.com/hpguard/hpguard/internal/manifest"
	"github.com/hpguard/hpguard/internal/report"
	"github.com/hpguard/hpguard/kyverno"
	"github.com/hpguard/hpguard/vap"
)

// tests/published holds the shapes of the HostProcess DaemonSets that major projects publish (one
// file per project; each cites its source path and commit). They are what users run, so the default
// profile must not deny them for a deliberate, valid configuration: every deny below names a real
// defect of the published manifest. Warnings are expected for LocalSystem (least-privilege-account),
// the inherit-user annotation (the same posture) and missing resource limits.

// publishedFinding is one expected finding: "severity rule field" and, for a container-level
// finding, " [container]".
func publishedFinding(f report.Finding) string {
	s := f.Severity + " " + f.Rule + " " + f.Field
	if f.Container != "" {
		s += " [" + f.Container + "]"
	}
	return s
}

// Short forms for the table.
const (
	dsPod  = "spec.template.spec"
	dsMeta = "spec.template.metadata"
)

func warnSystem() string {
	return "warn least-privilege-account " + dsPod + ".securityContext.windowsOptions.runAsUserName"
}

// warnLimits is the resource-limits-set warning of a container for each missing limit.
func warnLimits(list string, i int, name string, resources ...string) []string {
	var out []string
	for _, r := range resources {
		out = append(out, fmt.Sprintf("warn resource-limits-set %s.%s[%d].resources.limits.%s [%s]", dsPod, list, i, r, name))
	}
	return out
}

func findings(groups ...any) []string {
	var out []string
	for _, g := range groups {
		switch v := g.(type) {
		case string:
			out = append(out, v)
		case []string:
			out = append(out, v...)
		}
	}
	return out
}

// publishedExpect is, per workload (file/metadata.name), every finding under the default profile
// (hostprocess). No published workload has a deny finding: each would be listed here with a comment
// naming the defect.
var publishedExpect = map[string][]string{
	// kubernetes-sigs/sig-windows-tools: kube-proxy (Calico), csi-proxy, containerd-logger, and the
	// last flannel DaemonSet (targeting Windows by node affinity, with an architecture term).
	"sig-windows-tools.yaml/kube-proxy-windows": findings(
		warnLimits("containers", 0, "kube-proxy", "cpu", "memory"), warnSystem()),
	"sig-windows-tools.yaml/csi-proxy": findings(
		warnLimits("containers", 0, "csi-proxy", "cpu", "memory"), warnSystem()),
	"sig-windows-tools.yaml/containerd-logger": findings(
		warnLimits("containers", 0, "containerd-logger", "cpu", "memory"), warnSystem()),
	"sig-windows-tools.yaml/kube-flannel-ds-windows-amd64": findings(
		warnLimits("containers", 0, "kube-flannel", "cpu", "memory"), warnSystem()),

	// kubernetes-csi/csi-driver-smb: memory limits only; the init container sets none.
	"csi-driver-smb.yaml/csi-smb-node-win": findings(
		warnLimits("containers", 0, "node-driver-registrar", "cpu"), warnLimits("containers", 1, "smb", "cpu"),
		warnLimits("initContainers", 0, "init", "cpu", "memory"), warnSystem()),
	"csi-driver-smb.yaml/csi-proxy": findings(
		warnLimits("containers", 0, "csi-proxy", "cpu", "memory"), warnSystem()),

	// kubernetes-sigs/azuredisk-csi-driver and azurefile-csi-driver: nodeSelector windows ANDed with
	// a required node affinity NotIn virtual-kubelet (the selector keeps them on Windows).
	"azuredisk-csi-driver.yaml/csi-azuredisk-node-win": findings(
		warnLimits("containers", 0, "node-driver-registrar", "cpu"), warnLimits("containers", 1, "azuredisk", "cpu"),
		warnLimits("initContainers", 0, "init", "cpu", "memory"), warnSystem()),
	"azurefile-csi-driver.yaml/csi-azurefile-node-win": findings(
		warnLimits("containers", 0, "node-driver-registrar", "cpu"), warnLimits("containers", 1, "azurefile", "cpu"),
		warnLimits("initContainers", 0, "init", "cpu", "memory"), warnSystem()),

	// antrea-io/antrea: the inherit-user annotation is a deliberate choice of SYSTEM's token, the
	// same posture as LocalSystem: a warning, not a deny, in the default profile.
	"antrea.yaml/antrea-agent-windows": findings(
		"warn no-inherit-user-annotation "+dsMeta+".annotations[microsoft.com/hostprocess-inherit-user]",
		warnLimits("containers", 0, "antrea-agent", "cpu", "memory"),
		warnLimits("initContainers", 0, "install-cni", "cpu", "memory"), warnSystem()),

	// projectcalico/calico: calico-node-windows and its kube-proxy.
	"calico.yaml/calico-node-windows": findings(
		warnLimits("containers", 0, "node", "cpu", "memory"), warnLimits("containers", 1, "felix", "cpu", "memory"),
		warnLimits("initContainers", 0, "install", "cpu", "memory"), warnSystem()),
	"calico.yaml/kube-proxy-windows": findings(
		warnLimits("containers", 0, "kube-proxy", "cpu", "memory"), warnSystem()),

	// prometheus-community/windows_exporter.
	"windows_exporter.yaml/windows-exporter": findings(
		warnLimits("containers", 0, "windows-exporter", "cpu", "memory"),
		warnLimits("initContainers", 0, "configure-firewall", "cpu", "memory"), warnSystem()),
}

// publishedEngines builds every registered engine for a profile.
func publishedEngines(t *testing.T, ctx context.Context, profile string) map[string]engine.Evaluator {
	t.Helper()
	p, err := engine.LoadPolicy(policiesFS())
	require.NoError(t, err)
	src := engine.Sources{Policy: p, Gatekeeper: gatekeeper.FS(), VAP: vap.FS(), Kyverno: kyverno.FS()}
	evs := map[string]engine.Evaluator{}
	for _, name := range engine.Names() {
		ev, err := engine.New(ctx, name, src, profile, nil)
		require.NoError(t, err, name)
		evs[name] = ev
	}
	require.Subset(t, engine.Names(), []string{"opa", "gatekeeper", "cel"})
	return evs
}

// publishedRun checks tests/published with an engine and returns the findings per workload key.
func publishedRun(t *testing.T, ctx context.Context, ev engine.Evaluator, profile string) map[string][]report.Finding {
	t.Helper()
	rep, err := check.Run(ctx, check.Options{Paths: []string{"published"}, Evaluator: ev, Profile: profile, Workers: 2, Limits: manifest.DefaultOptions()})
	require.NoError(t, err)
	got := map[string][]report.Finding{}
	for _, r := range rep.Results {
		require.Equal(t, report.StatusChecked, r.Status, "%s document %d: %s", r.File, r.Document, r.Error)
		key := filepath.Base(r.File) + "/" + r.Name
		_, dup := got[key]
		require.False(t, dup, "%s: two workloads with one key", key)
		got[key] = r.Findings
	}
	return got
}

// TestPublishedManifests runs every engine on tests/published under the default profile and
// asserts every finding of every workload.
func TestPublishedManifests(t *testing.T) {
	ctx := context.Background()
	const profile = "hostprocess"
	for name, ev := range publishedEngines(t, ctx, profile) {
		t.Run(name, func(t *testing.T) {
			got := publishedRun(t, ctx, ev, profile)
			for key, want := range publishedExpect {
				fs, ok := got[key]
				if !assertPublished(t, ok, "%s: not checked", key) {
					continue
				}
				var have []string
				for _, f := range fs {
					have = append(have, publishedFinding(f))
					require.NotEmpty(t, f.Message, "%s: %s has no message", key, f.Rule)
				}
				slices.Sort(have)
				w := slices.Clone(want)
				slices.Sort(w)
				require.Equal(t, strings.Join(w, "\n"), strings.Join(have, "\n"), "%s with engine %s", key, name)
			}
			for key := range got {
				_, ok := publishedExpect[key]
				assertPublished(t, ok, "%s is not in publishedExpect", key)
			}
		})
	}
}

// TestPublishedStrictDeniesInheritUser: strict denies what hostprocess warns about on Antrea's agent.
func TestPublishedStrictDeniesInheritUser(t *testing.T) {
	ctx := context.Background()
	for name, ev := range publishedEngines(t, ctx, "strict") {
		t.Run(name, func(t *testing.T) {
			got := publishedRun(t, ctx, ev, "strict")
			sev := map[string]string{}
			for _, f := range got["antrea.yaml/antrea-agent-windows"] {
				sev[f.Rule] = f.Severity
			}
			require.Equal(t, report.SeverityDeny, sev["no-inherit-user-annotation"])
			require.Equal(t, report.SeverityDeny, sev["least-privilege-account"])
		})
	}
}

func assertPublished(t *testing.T, ok bool, format string, args ...any) bool {
	t.Helper()
	if !ok {
		t.Errorf(format, args...)
	}
	return ok
}
