package controlplane

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const (
	// readyTimeout bounds how long kube-apiserver may take to report /readyz ok.
	readyTimeout = 3 * time.Minute
	// stopTimeout is how long a stopped process has to exit before it is killed.
	stopTimeout = 30 * time.Second
	// serviceCIDR is the cluster's service range; its first address is the kubernetes service's.
	serviceCIDR = "10.0.0.0/24"
)

// cluster is a running control plane: etcd and kube-apiserver on loopback, with an admin kubeconfig.
type cluster struct {
	t *testing.T
	// dir holds the certificates, keys, kubeconfig, logs and etcd's data; removed when the test ends.
	dir string
	// server is the API server's URL (https://127.0.0.1:<port>).
	server string
	// kubeconfig is the path of a kubeconfig for an admin user (group system:masters).
	kubeconfig string
	// root is the repository, the working directory of kubectl (the README's commands use paths
	// relative to it).
	root string
	bin  binaries
	// apiserverLog is kube-apiserver's output.
	apiserverLog string
	// apiserverExited is closed when kube-apiserver exits.
	apiserverExited <-chan struct{}
	// ready is how long kube-apiserver took from its start to /readyz ok.
	ready time.Duration
}

// startControlPlane builds (once, see controlPlaneBinaries) and starts a control plane for the test:
// etcd and kube-apiserver listening on 127.0.0.1 only, with a CA, serving and client certificates and
// service-account signing keys generated for it. It returns once /readyz is ok; when the test ends
// the API server is stopped (its process group), then etcd, and the directory is removed. No kubelet
// or node runs: objects are created, dry-run and validated, never scheduled.
func startControlPlane(t *testing.T) *cluster {
	t.Helper()
	bin := controlPlaneBinaries(t)
	c := &cluster{t: t, dir: t.TempDir(), root: repoRoot(t), bin: bin}
	pki := filepath.Join(c.dir, "pki")
	require.NoError(t, os.Mkdir(pki, 0o700))

	// etcd has its own CA, as in a kubeadm cluster.
	etcdCA := newAuthority(t, pki, "etcd-ca", "etcd-ca")
	etcdServer := etcdCA.issue(t, pki, "etcd-server", certSpec{cn: "etcd", dns: []string{"localhost"},
		ips: []net.IP{net.IPv4(127, 0, 0, 1)}})
	etcdClient := etcdCA.issue(t, pki, "apiserver-etcd-client", certSpec{cn: "kube-apiserver-etcd-client"})
	etcdURL := startEtcd(t, filepath.Join(c.dir, "etcd"), etcdCA, etcdServer)

	ca := newAuthority(t, pki, "ca", "kubernetes")
	serving := ca.issue(t, pki, "apiserver", certSpec{
		cn: "kube-apiserver",
		dns: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
			"kubernetes.default.svc.cluster.local"},
		ips: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv4(10, 0, 0, 1)},
	})
	admin := ca.issue(t, pki, "admin", certSpec{cn: "kubernetes-admin", orgs: []string{"system:masters"}})
	sa := newSigningKey(t, pki, "sa")

	port := freePort(t)
	c.server = "https://" + net.JoinHostPort("127.0.0.1", port)
	c.apiserverLog = filepath.Join(c.dir, "kube-apiserver.log")
	c.apiserverExited = c.start(bin.apiserver, c.apiserverLog,
		"--bind-address=127.0.0.1",
		"--secure-port="+port,
		"--advertise-address=127.0.0.1",
		// The kubernetes service's endpoints would be the advertise address, which endpoint validation
		// refuses for loopback; nothing in the tests runs in the cluster and reaches for the service.
		"--endpoint-reconciler-type=none",
		"--etcd-servers="+etcdURL,
		"--etcd-cafile="+etcdCA.file,
		"--etcd-certfile="+etcdClient.cert,
		"--etcd-keyfile="+etcdClient.key,
		"--client-ca-file="+ca.file,
		"--tls-cert-file="+serving.cert,
		"--tls-private-key-file="+serving.key,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+sa.cert,
		"--service-account-signing-key-file="+sa.key,
		"--service-cluster-ip-range="+serviceCIDR,
		"--authorization-mode=Node,RBAC",
		// The admission plugins are the default set (--enable-admission-plugins unset), which includes
		// ValidatingAdmissionPolicy; HostProcess pods need privileged containers allowed, as clusters
		// that run Windows nodes do.
		"--allow-privileged=true",
		"--profiling=false",
		"--v=1",
	)

	c.kubeconfig = filepath.Join(c.dir, "kubeconfig")
	require.NoError(t, os.WriteFile(c.kubeconfig, []byte(kubeconfig(c.server, ca.file, admin)), 0o600))
	c.waitReady(ca, admin)
	t.Logf("kube-apiserver %s ready in %s at %s", bin.version, c.ready.Round(time.Millisecond), c.server)
	return c
}

// kubeconfig is a kubeconfig with one context, admin@local, for the client certificate admin.
func kubeconfig(server, caFile string, admin keyPair) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: %s
    certificate-authority: %s
users:
- name: admin
  user:
    client-certificate: %s
    client-key: %s
contexts:
- name: admin@local
  context:
    cluster: local
    user: admin
current-context: admin@local
`, server, caFile, admin.cert, admin.key)
}

// start runs the program with args in its own process group, its output to the file logFile. When the
// test ends the group is sent SIGTERM, then SIGKILL if it has not exited within stopTimeout, and the
// last lines of its log are logged if the test failed. The channel returned is closed when the
// process exits.
func (c *cluster) start(program, logFile string, args ...string) <-chan struct{} {
	t := c.t
	t.Helper()
	out, err := os.Create(logFile)
	require.NoError(t, err)
	cmd := exec.Command(program, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = procAttr()
	require.NoError(t, cmd.Start(), "start %s", program)
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		out.Close()
		close(exited)
	}()
	name := filepath.Base(program)
	t.Cleanup(func() {
		select {
		case <-exited:
			t.Errorf("%s exited before the test ended: %s", name, cmd.ProcessState)
		default:
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(stopTimeout):
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				<-exited
			}
		}
		if t.Failed() {
			t.Logf("%s log (last lines):\n%s", name, tail(logFile, 40))
			keepLog(t, logFile)
		}
	})
	return exited
}

// waitReady polls /readyz with the admin's certificate until it answers ok, failing the test if the
// API server exits or readyTimeout passes.
func (c *cluster) waitReady(ca *authority, admin keyPair) {
	t := c.t
	t.Helper()
	cert, err := tls.LoadX509KeyPair(admin.cert, admin.key)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	client := &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}},
	}
	defer client.CloseIdleConnections()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	var last string
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.server+"/readyz", nil)
		require.NoError(t, err)
		if resp, err := client.Do(req); err == nil {
			var body bytes.Buffer
			_, _ = body.ReadFrom(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				c.ready = time.Since(start)
				return
			}
			last = fmt.Sprintf("%s: %s", resp.Status, body.String())
		} else {
			last = err.Error()
		}
		select {
		case <-c.apiserverExited:
			require.FailNow(t, "kube-apiserver exited", "log:\n%s", tail(c.apiserverLog, 40))
		case <-ctx.Done():
			require.FailNow(t, "kube-apiserver not ready", "within %s; last answer: %s", readyTimeout, last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// kubectl runs kubectl with args against the cluster, in the repository's directory, and returns its
// standard output and standard error. err is the run's error (an *exec.ExitError when kubectl exits
// non-zero).
func (c *cluster) kubectl(args ...string) (stdout, stderr string, err error) {
	return c.kubectlIn(nil, args...)
}

// kubectlIn is kubectl with stdin as its standard input.
func (c *cluster) kubectlIn(stdin []byte, args ...string) (stdout, stderr string, err error) {
	cmd := exec.Command(c.bin.kubectl, args...)
	cmd.Dir = c.root
	cmd.Env = append(os.Environ(), "KUBECONFIG="+c.kubeconfig, "KUBECACHEDIR="+filepath.Join(c.dir, "kubectl-cache"))
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// mustKubectl runs kubectl with args and fails the test unless it succeeds; it returns the standard
// output.
func (c *cluster) mustKubectl(args ...string) string {
	c.t.Helper()
	out, errOut, err := c.kubectl(args...)
	require.NoError(c.t, err, "kubectl %s:\n%s%s", strings.Join(args, " "), out, errOut)
	return out
}

// tail returns the last n lines of file, or why it could not be read.
func tail(file string, n int) string { return tailMatching(file, n, "") }

// tailMatching returns the last n lines of file that contain s.
func tailMatching(file string, n int, s string) string {
	b, err := os.ReadFile(file)
	if err != nil {
		return err.Error()
	}
	var lines []string
	for _, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if strings.Contains(line, s) {
			lines = append(lines, line)
		}
	}
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// keepLog copies a process's log into HPGUARD_KEEP_LOGS (a directory), when it is set, before the
// test's directory is removed.
func keepLog(t *testing.T, file string) {
	dir := os.Getenv("HPGUARD_KEEP_LOGS")
	if dir == "" {
		return
	}
	b, err := os.ReadFile(file)
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+"-"+filepath.Base(file)), b, 0o644)
	}
	if err != nil {
		t.Logf("keep %s: %v", file, err)
	}
}

// errExit reports whether err is kubectl's non-zero exit (and not a failure to run it).
func errExit(err error) bool {
	var exit *exec.ExitError
	return errors.As(err, &exit)
}
