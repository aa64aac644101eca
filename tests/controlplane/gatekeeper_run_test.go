package controlplane

import (
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// gatekeeperNamespace is the namespace Gatekeeper runs in (its status objects live there); the
// webhook never sees requests in it.
const gatekeeperNamespace = "gatekeeper-system"

// gatekeeper is a running Gatekeeper manager, out of cluster, against a control plane.
type gatekeeper struct {
	build gatekeeperBuild
	// webhookPort and healthPort are the manager's ports on 127.0.0.1.
	webhookPort, healthPort string
	log                     string
	exited                  <-chan struct{}
	// ready is how long the manager took from its start to /readyz ok.
	ready time.Duration
}

// startGatekeeper installs Gatekeeper's CRDs (all of charts/gatekeeper/crds of its module: the
// manager waits for every kind it watches) and its namespace, starts the manager with the webhook,
// audit, status and generate operations in one process, its webhook serving on 127.0.0.1 with a
// certificate of a CA generated here, and, once it is ready, registers the webhook as Gatekeeper's
// chart does, with a URL instead of a service. flags are added to the manager's. The manager is
// stopped when the test ends.
func startGatekeeper(t *testing.T, c *cluster, flags ...string) *gatekeeper {
	t.Helper()
	b := gatekeeperManager(t)
	crds, err := filepath.Glob(filepath.Join(b.moduleDir, "charts", "gatekeeper", "crds", "*-customresourcedefinition.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, crds, "Gatekeeper's CRDs in %s", b.moduleDir)
	args := []string{"apply", "--server-side"}
	for _, f := range crds {
		args = append(args, "-f", f)
	}
	c.mustKubectl(args...)
	c.mustKubectl("wait", "--for=condition=Established", "--timeout=60s", "crd", "-l", "gatekeeper.sh/system=yes")
	c.mustKubectl("create", "namespace", gatekeeperNamespace)

	dir := filepath.Join(c.dir, "gatekeeper")
	certDir := filepath.Join(dir, "certs")
	require.NoError(t, os.MkdirAll(certDir, 0o700))
	// The audit lists objects into this directory and fails every run when it does not exist.
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "audit"), 0o700))
	ca := newAuthority(t, dir, "webhook-ca", "gatekeeper-webhook-ca")
	ca.issue(t, certDir, "tls", certSpec{cn: "gatekeeper-webhook", dns: []string{"localhost"},
		ips: []net.IP{net.IPv4(127, 0, 0, 1)}})

	g := &gatekeeper{build: b, webhookPort: freePort(t), healthPort: freePort(t), log: filepath.Join(dir, "manager.log")}
	args = []string{
		"POD_NAMESPACE=" + gatekeeperNamespace,
		b.manager,
		"--kubeconfig=" + c.kubeconfig,
		"--operation=webhook", "--operation=audit", "--operation=status", "--operation=generate",
		"--host=127.0.0.1", "--port=" + g.webhookPort,
		"--cert-dir=" + certDir, "--disable-cert-rotation",
		"--health-addr=127.0.0.1:" + g.healthPort, "--metrics-addr=0",
		// No pod runs the manager: it reports its status as a pod of this name.
		"--debug-use-fake-pod",
		// Audit every 3 s (default 60), each constraint's violations listed in full (default 20).
		"--audit-interval=3", "--constraint-violations-limit=100000",
		"--api-cache-dir=" + filepath.Join(dir, "audit"),
		"--disable-opa-builtin={http.send}",
		"--shutdown-delay=0",
		// What the README tells users to run Gatekeeper with: the templates generate no
		// ValidatingAdmissionPolicy, so there is no binding to generate for their Constraints.
		"--default-create-vap-binding-for-constraints=false",
	}
	args = append(args, flags...)
	start := time.Now()
	g.exited = c.start("/usr/bin/env", g.log, args...)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:"+g.healthPort+"/readyz", nil)
		require.NoError(t, err)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-g.exited:
			require.FailNow(t, "Gatekeeper's manager exited", "log:\n%s", tail(g.log, 60))
		case <-ctx.Done():
			require.FailNow(t, "Gatekeeper's manager is not ready", "log:\n%s", tail(g.log, 60))
		case <-time.After(200 * time.Millisecond):
		}
	}
	g.ready = time.Since(start)

	caPEM, err := os.ReadFile(ca.file)
	require.NoError(t, err)
	vwc := fmt.Sprintf(gatekeeperWebhookConfig, g.webhookPort, base64.StdEncoding.EncodeToString(caPEM))
	_, errOut, err := c.kubectlIn([]byte(vwc), "apply", "-f", "-")
	require.NoError(t, err, errOut)
	return g
}

// gatekeeperWebhookConfig is the validating webhook of Gatekeeper's chart
// (charts/gatekeeper/templates/gatekeeper-validating-webhook-configuration-*.yaml with its default
// values), its clientConfig a URL on loopback instead of the webhook service; the subresources are
// the ones the chart lists that hpguard's rules read (pods/ephemeralcontainers: `kubectl debug`).
const gatekeeperWebhookConfig = `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: gatekeeper-validating-webhook-configuration
  labels:
    gatekeeper.sh/system: "yes"
webhooks:
- name: validation.gatekeeper.sh
  admissionReviewVersions: ["v1", "v1beta1"]
  clientConfig:
    url: https://127.0.0.1:%s/v1/admit
    caBundle: %s
  failurePolicy: Fail
  matchPolicy: Exact
  sideEffects: None
  timeoutSeconds: 10
  namespaceSelector:
    matchExpressions:
    - key: admission.gatekeeper.sh/ignore
      operator: DoesNotExist
    - key: kubernetes.io/metadata.name
      operator: NotIn
      values: ["gatekeeper-system"]
  rules:
  - apiGroups: ["*"]
    apiVersions: ["*"]
    operations: ["CREATE", "UPDATE"]
    resources: ["*", "pods/ephemeralcontainers"]
`

// gatekeeperInstall is how the README says to install a profile's Gatekeeper templates and
// Constraints: the lines of the block after its marker (gatekeeper-install, or
// gatekeeper-combined-install for the combined template), with the profile's name
// put in place of hostprocess. Each is run verbatim by a shell (the lines quote a jsonpath).
func gatekeeperInstall(t *testing.T, root, marker, profile string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	require.NoError(t, err)
	_, after, ok := strings.Cut(string(b), "<!-- "+marker+":")
	require.True(t, ok, "README.md has no %s block", marker)
	_, after, ok = strings.Cut(after, "```sh\n")
	require.True(t, ok)
	block, _, ok := strings.Cut(after, "```")
	require.True(t, ok)
	var lines []string
	for _, line := range strings.Split(block, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		require.True(t, strings.HasPrefix(line, "kubectl "), "README install line %q", line)
		// gatekeeper/profiles/hostprocess or gatekeeper/combined/profiles/hostprocess.
		lines = append(lines, strings.ReplaceAll(line, "/profiles/hostprocess", "/profiles/"+profile))
	}
	require.Len(t, lines, 4, "README install lines")
	return lines
}

// shell runs line with sh from the repository's root, kubectl the cluster's (first in PATH, with
// its kubeconfig), and returns its combined output.
func (c *cluster) shell(line string) (string, error) {
	cmd := exec.Command("sh", "-c", line)
	cmd.Dir = c.root
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(c.bin.kubectl)+string(os.PathListSeparator)+os.Getenv("PATH"),
		"KUBECONFIG="+c.kubeconfig, "KUBECACHEDIR="+filepath.Join(c.dir, "kubectl-cache"))
	out, err := cmd.CombinedOutput()
	return string(out), err
}
