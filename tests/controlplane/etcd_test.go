package controlplane

import (
	"net"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.etcd.io/etcd/server/v3/embed"
)

// etcdStartTimeout bounds how long the embedded etcd may take to elect itself leader.
const etcdStartTimeout = time.Minute

// startEtcd starts a single-member etcd in this process, its data in dir, serving clients on a free
// loopback port over TLS with client-certificate authentication (server's certificate, clients'
// certificates signed by ca); it is stopped when the test ends. It returns the client URL.
//
// etcd runs in-process (go.etcd.io/etcd/server/v3/embed, at the version k8s.io/kubernetes requires)
// rather than as a separate binary: one build less, and nothing to kill if the test binary dies.
func startEtcd(t *testing.T, dir string, ca *authority, server keyPair) string {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o700))
	clientURL := url.URL{Scheme: "https", Host: net.JoinHostPort("127.0.0.1", freePort(t))}
	peerURL := url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", freePort(t))}

	cfg := embed.NewConfig()
	cfg.Name = "controlplane"
	cfg.Dir = filepath.Join(dir, "data")
	cfg.ListenClientUrls = []url.URL{clientURL}
	cfg.AdvertiseClientUrls = []url.URL{clientURL}
	cfg.ListenPeerUrls = []url.URL{peerURL}
	cfg.AdvertisePeerUrls = []url.URL{peerURL}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.ClientTLSInfo = transport.TLSInfo{
		CertFile:       server.cert,
		KeyFile:        server.key,
		TrustedCAFile:  ca.file,
		ClientCertAuth: true,
	}
	// The data is thrown away with the test.
	cfg.UnsafeNoFsync = true
	cfg.LogLevel = "error"
	cfg.LogOutputs = []string{filepath.Join(dir, "etcd.log")}

	e, err := embed.StartEtcd(cfg)
	require.NoError(t, err, "start etcd")
	t.Cleanup(func() {
		e.Close()
		select {
		case <-e.Server.StopNotify():
		case <-time.After(etcdStartTimeout):
			t.Errorf("etcd did not stop within %s", etcdStartTimeout)
		}
	})
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		require.NoError(t, err, "etcd failed")
	case <-time.After(etcdStartTimeout):
		require.FailNow(t, "etcd not ready", "within %s; log: %s", etcdStartTimeout, cfg.LogOutputs[0])
	}
	return clientURL.String()
}

// freePort returns a TCP port on 127.0.0.1 that is free now (the kernel's choice for port 0). Another
// process could take it before it is used; on loopback in a test run that is unlikely.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	_, port, err := net.SplitHostPort(l.Addr().String())
	require.NoError(t, err)
	return port
}
