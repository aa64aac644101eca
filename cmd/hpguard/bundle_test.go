package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hpguard/hpguard"
)

func writeECKeys(t *testing.T, dir string) (priv, pub string) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalECPrivateKey(k)
	require.NoError(t, err)
	pubDER, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	require.NoError(t, err)
	priv, pub = filepath.Join(dir, "private.pem"), filepath.Join(dir, "public.pem")
	require.NoError(t, os.WriteFile(priv, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(pub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644))
	return priv, pub
}

func TestBundleBuildVerifyInspect(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: runs without -short (make test)")
	}
	dir := t.TempDir()
	spec := filepath.Join("..", "..", "policies", "spec")

	unsigned := filepath.Join(dir, "unsigned.tar.gz")
	out, errOut, code := run(t, "", "bundle", "build", "--spec", spec, "-o", unsigned)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "unsigned")
	got, err := os.ReadFile(unsigned)
	require.NoError(t, err)
	committed, err := hpguard.Bundle()
	require.NoError(t, err)
	require.Equal(t, committed, got, "`bundle build` gives the committed bundle.tar.gz")

	priv, pub := writeECKeys(t, dir)
	signed := filepath.Join(dir, "signed.tar.gz")
	out, errOut, code = run(t, "", "bundle", "build", "--spec", spec, "-o", signed, "--signing-key", priv, "--signing-alg", "ES256")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "signed ES256 kid=hpguard")

	out, errOut, code = run(t, "", "bundle", "verify", "--verification-key", pub, signed)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "verified")

	_, errOut, code = run(t, "", "bundle", "verify", "--verification-key", pub, unsigned)
	require.Equal(t, exitFindings, code)
	require.Contains(t, errOut, ".signatures.json")

	out, errOut, code = run(t, "", "bundle", "inspect", signed)
	require.Equal(t, 0, code, errOut)
	for _, want := range []string{"Revision:    0.1.0+", "Roots:       hpguard", "Signature:   signed (not verified: no key given) ES256 kid=hpguard",
		"BASELINE", "HOSTPROCESS", "STRICT", "least-privilege-account", "lib/core.rego", "sha256:"} {
		require.Contains(t, out, want)
	}
	out, errOut, code = run(t, "", "bundle", "inspect", "-o", "json", "--verification-key", pub, signed)
	require.Equal(t, 0, code, errOut)
	var info struct {
		Revision  string
		Roots     []string
		Signature struct{ Status string }
		Rules     []struct {
			ID         string
			Severities map[string]string
		}
		Files []struct{ Name, SHA256, SignedHash string }
	}
	require.NoError(t, json.Unmarshal([]byte(out), &info))
	require.Equal(t, "verified", info.Signature.Status)
	require.Equal(t, []string{"hpguard"}, info.Roots)
	require.NotEmpty(t, info.Rules)
	require.NotEmpty(t, info.Files)

	// Tampering: change one byte of the archive.
	data, err := os.ReadFile(signed)
	require.NoError(t, err)
	data[len(data)-100] ^= 0x01
	bad := filepath.Join(dir, "tampered.tar.gz")
	require.NoError(t, os.WriteFile(bad, data, 0o644))
	out, errOut, code = run(t, "", "bundle", "verify", "-o", "json", "--verification-key", pub, bad)
	require.Equal(t, exitFindings, code, errOut)
	require.Contains(t, out, `"verified": false`)
	require.True(t, strings.Contains(errOut, "verification failed"), errOut)

	// Usage errors exit 2.
	_, _, code = run(t, "", "bundle", "verify", signed)
	require.Equal(t, exitError2, code)
	_, _, code = run(t, "", "bundle", "build", "-o", filepath.Join(dir, "x.tar.gz"), "--signing-alg", "RS256")
	require.Equal(t, exitError2, code)
	_, errOut, code = run(t, "", "bundle", "build", "--spec", spec, "--signing-key", priv)
	require.Equal(t, exitError2, code)
	require.Contains(t, errOut, "needs -o FILE")
}

// TestCheckWithBundle: check evaluates a given bundle, and with a key refuses an unsigned or
// tampered one (exit 2) while accepting the signed original.
func TestCheckWithBundle(t *testing.T) {
	dir := t.TempDir()
	priv, pub := writeECKeys(t, dir)
	signed := filepath.Join(dir, "signed.tar.gz")
	_, errOut, code := run(t, "", "bundle", "build", "-o", signed, "--signing-key", priv, "--signing-alg", "ES256")
	require.Equal(t, 0, code, errOut)

	want, _, wantCode := run(t, "", "check", "-o", "json", "testdata/check/list.yaml", "testdata/check/pod.json")
	got, errOut, gotCode := run(t, "", "check", "-o", "json", "--bundle", signed, "--verification-key", pub, "testdata/check/list.yaml", "testdata/check/pod.json")
	require.Equal(t, wantCode, gotCode, errOut)
	require.Equal(t, want, got, "the signed bundle gives the embedded bundle's results")

	unsigned := filepath.Join(dir, "unsigned.tar.gz")
	data, err := hpguard.Bundle()
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(unsigned, data, 0o644))
	_, errOut, code = run(t, "", "check", "--bundle", unsigned, "--verification-key", pub, "testdata/check/list.yaml")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "unsigned.tar.gz")

	b, err := os.ReadFile(signed)
	require.NoError(t, err)
	b[len(b)/2] ^= 0x01
	tampered := filepath.Join(dir, "tampered.tar.gz")
	require.NoError(t, os.WriteFile(tampered, b, 0o644))
	_, errOut, code = run(t, "", "check", "--bundle", tampered, "--verification-key", pub, "testdata/check/list.yaml")
	require.Equal(t, 2, code, "a tampered bundle is refused")
	require.NotEmpty(t, errOut)

	_, errOut, code = run(t, "", "check", "--verification-key", pub, "testdata/check/list.yaml")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "--verification-key needs --bundle")
}
