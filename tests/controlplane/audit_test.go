package controlplane

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// auditObjects are the workloads that exist in the cluster before `hpguard audit` reads it, in two
// namespaces: in audit-a, a HostProcess Deployment that runs as SYSTEM (a warn) and a clean Linux
// pod; in audit-b, a HostProcess DaemonSet that mounts containerd's named pipe (a deny) and a
// CronJob. The API server accepts all of them (no admission policy is installed).
const auditObjects = `apiVersion: v1
kind: Namespace
metadata: {name: audit-a}
---
apiVersion: v1
kind: Namespace
metadata: {name: audit-b}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: default, namespace: audit-a}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: default, namespace: audit-b}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: agent, namespace: audit-a, labels: {app: agent}}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      hostNetwork: true
      securityContext:
        windowsOptions: {hostProcess: true, runAsUserName: "NT AUTHORITY\\SYSTEM"}
      nodeSelector: {kubernetes.io/os: windows}
      containers:
        - name: agent
          image: registry.example.com/agent:1.0
          resources: {limits: {cpu: 100m, memory: 64Mi}}
---
apiVersion: v1
kind: Pod
metadata: {name: clean, namespace: audit-a, labels: {app: clean}}
spec:
  containers:
    - name: web
      image: registry.example.com/web:1.0
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: log-agent, namespace: audit-b, labels: {app: log-agent}}
spec:
  selector: {matchLabels: {app: log-agent}}
  template:
    metadata: {labels: {app: log-agent}}
    spec:
      hostNetwork: true
      securityContext:
        windowsOptions: {hostProcess: true, runAsUserName: "NT AUTHORITY\\LocalService"}
      nodeSelector: {kubernetes.io/os: windows}
      containers:
        - name: agent
          image: registry.example.com/log-agent:1.0
          resources: {limits: {cpu: 100m, memory: 64Mi}}
          volumeMounts: [{name: containerd, mountPath: '\\.\pipe\containerd-containerd'}]
      volumes:
        - name: containerd
          hostPath: {path: '\\.\pipe\containerd-containerd'}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly, namespace: audit-b, labels: {app: nightly}}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
            - name: job
              image: registry.example.com/job:1.0
`

// auditResult is the part of an `hpguard audit -o json` result the test reads.
type auditResult struct {
	File     string `json:"file"`
	Status   string `json:"status"`
	Kind     string `json:"kind"`
	Error    string `json:"error"`
	Findings []struct {
		Rule     string `json:"rule"`
		Severity string `json:"severity"`
		Field    string `json:"field"`
	} `json:"findings"`
}

// TestAudit creates workloads on a real API server, then runs `hpguard audit` against it: every
// namespace, one namespace, a label selector, pages of one object, every output format with the
// exit status of check, and the findings equal to `hpguard check` on the same manifests.
func TestAudit(t *testing.T) {
	c := startControlPlane(t)
	_, errOut, err := c.kubectlIn([]byte(auditObjects), "create", "-f", "-")
	require.NoError(t, err, errOut)

	bin, err := buildHpguard()
	require.NoError(t, err)
	run := func(args ...string) ([]auditResult, string, int) {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"audit", "--kubeconfig", c.kubeconfig, "-q"}, args...)...)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else {
			require.NoError(t, err)
		}
		var rep struct {
			Results []auditResult `json:"results"`
		}
		if slices.Contains(args, "json") {
			require.NoError(t, json.Unmarshal([]byte(stdout.String()), &rep), "%s\n%s", stdout.String(), stderr.String())
		}
		return rep.Results, stdout.String() + stderr.String(), code
	}
	summary := func(results []auditResult) []string {
		var s []string
		for _, r := range results {
			line := r.File + " " + r.Status
			for _, f := range r.Findings {
				line += " " + f.Rule + ":" + f.Severity
			}
			s = append(s, line)
		}
		return s
	}

	const (
		agent   = "/apis/apps/v1/namespaces/audit-a/deployments/agent"
		clean   = "/api/v1/namespaces/audit-a/pods/clean"
		logs    = "/apis/apps/v1/namespaces/audit-b/daemonsets/log-agent"
		nightly = "/apis/batch/v1/namespaces/audit-b/cronjobs/nightly"
	)
	all, text, code := run("-A", "-o", "json")
	require.Equal(t, 1, code, text)
	require.Equal(t, []string{
		clean + " checked",
		agent + " checked least-privilege-account:warn",
		logs + " checked no-named-pipe-or-socket-mounts:deny",
		nightly + " checked",
	}, summary(all))

	// The same objects, paged one per request.
	paged, text, code := run("-A", "-o", "json", "--chunk-size", "1")
	require.Equal(t, 1, code, text)
	require.Equal(t, summary(all), summary(paged))

	// One namespace: only a warn, which does not fail the run unless --fail-on warn.
	ns, text, code := run("-n", "audit-a", "-o", "json")
	require.Equal(t, 0, code, text)
	require.Equal(t, []string{clean + " checked", agent + " checked least-privilege-account:warn"}, summary(ns))
	_, text, code = run("-n", "audit-a", "-o", "json", "--fail-on", "warn")
	require.Equal(t, 1, code, text)

	// A label selector, as kubectl -l.
	sel, text, code := run("-A", "-l", "app in (log-agent, nightly)", "-o", "json")
	require.Equal(t, 1, code, text)
	require.Equal(t, []string{logs + " checked no-named-pipe-or-socket-mounts:deny", nightly + " checked"}, summary(sel))

	// Every format, with check's exit status.
	for _, format := range []string{"text", "json", "sarif", "junit", "tap", "github"} {
		_, text, code := run("-A", "-o", format)
		assert.Equal(t, 1, code, "-o %s: %s", format, text)
		assert.Contains(t, text, "log-agent", "-o %s names the denied workload", format)
	}

	// The findings are those of check on the manifests the objects were created from.
	cmd := exec.Command(bin, "check", "-q", "-o", "json", "-")
	cmd.Stdin = strings.NewReader(auditObjects)
	stdout, err := cmd.Output()
	require.Error(t, err, "check exits 1 on the same findings")
	var rep struct {
		Results []auditResult `json:"results"`
	}
	require.NoError(t, json.Unmarshal(stdout, &rep))
	var fromCheck, fromAudit []string
	for _, r := range rep.Results {
		for _, f := range r.Findings {
			fromCheck = append(fromCheck, r.Kind+" "+f.Rule+" "+f.Severity+" "+f.Field)
		}
	}
	for _, r := range all {
		for _, f := range r.Findings {
			fromAudit = append(fromAudit, r.Kind+" "+f.Rule+" "+f.Severity+" "+f.Field)
		}
	}
	require.ElementsMatch(t, fromCheck, fromAudit)

	// A user whose RBAC lets it read only some kinds: a kind it may not list is an error result and
	// exit status 2, never a pass on the kinds it could read; with every kind readable in its
	// namespace, the same verdicts as the admin's.
	kubeconfig := auditorKubeconfig(t, c, false)
	limited, text, code := run("--kubeconfig", kubeconfig, "-n", "audit-a", "-o", "json")
	require.Equal(t, 2, code, text)
	var denied []string
	for _, r := range limited {
		if r.Status == "error" {
			denied = append(denied, r.File)
			assert.Contains(t, r.Error, "forbidden", "the error says why")
			assert.Contains(t, r.Error, "cronjobs", "the error names the resource")
		}
	}
	require.Equal(t, []string{"/apis/batch/v1/namespaces/audit-a/cronjobs"}, denied,
		"only the kind the user may not list is an error, named by its list's path: %s", text)
	_, text, code = run("--kubeconfig", kubeconfig, "-n", "audit-a", "-o", "text")
	require.Equal(t, 2, code, text)
	require.Contains(t, text, "forbidden")
	kubeconfig = auditorKubeconfig(t, c, true)
	limited, text, code = run("--kubeconfig", kubeconfig, "-n", "audit-a", "-o", "json")
	require.Equal(t, 0, code, text)
	require.Equal(t, summary(ns), summary(limited))
	// Its Role is in one namespace: every namespace is not readable.
	_, text, code = run("--kubeconfig", kubeconfig, "-A", "-o", "json")
	require.Equal(t, 2, code, text)

	// A context the kubeconfig does not have is an error, not an empty pass.
	_, text, code = run("--context", "missing", "-A")
	require.Equal(t, 2, code, text)
	require.Contains(t, text, "missing")
}

// auditorKubeconfig writes a kubeconfig for the service account audit-a/auditor (a token from the
// TokenRequest API), whose Role in audit-a lets it list the workload kinds hpguard audit reads,
// CronJobs only when cronJobs is true.
func auditorKubeconfig(t *testing.T, c *cluster, cronJobs bool) string {
	t.Helper()
	batch := "jobs"
	if cronJobs {
		batch = "jobs, cronjobs"
	}
	role := fmt.Sprintf(`apiVersion: v1
kind: ServiceAccount
metadata: {name: auditor, namespace: audit-a}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: workload-reader, namespace: audit-a}
rules:
  - {apiGroups: [""], resources: [pods, podtemplates, replicationcontrollers], verbs: [list]}
  - {apiGroups: [apps], resources: [replicasets, deployments, daemonsets, statefulsets], verbs: [list]}
  - {apiGroups: [batch], resources: [%s], verbs: [list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: auditor, namespace: audit-a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: workload-reader}
subjects: [{kind: ServiceAccount, name: auditor, namespace: audit-a}]
`, batch)
	_, errOut, err := c.kubectlIn([]byte(role), "apply", "-f", "-")
	require.NoError(t, err, errOut)
	token := strings.TrimSpace(c.mustKubectl("create", "token", "auditor", "-n", "audit-a"))
	cluster := c.mustKubectl("config", "view", "-o", "jsonpath={.clusters[0].name}")
	kubeconfig := filepath.Join(t.TempDir(), "auditor.kubeconfig")
	b, err := os.ReadFile(c.kubeconfig)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(kubeconfig, b, 0o600))
	for _, args := range [][]string{
		{"set-credentials", "auditor", "--token", token},
		{"set-context", "auditor", "--cluster", cluster, "--user", "auditor"},
		{"use-context", "auditor"},
	} {
		c.mustKubectl(append([]string{"config", "--kubeconfig", kubeconfig}, args...)...)
	}
	// The RBAC authorizer sees the Role once its informer has: wait until the user may list pods.
	require.Eventually(t, func() bool {
		out, _, err := c.kubectl("auth", "can-i", "list", "pods", "-n", "audit-a", "--kubeconfig", kubeconfig)
		return err == nil && strings.TrimSpace(out) == "yes"
	}, 30*time.Second, 100*time.Millisecond, "the auditor may not list pods")
	return kubeconfig
}
