package controlplane

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// authority is a certificate authority generated for one control plane.
type authority struct {
	cert *x509.Certificate
	key  crypto.Signer
	// file is the PEM file of the certificate.
	file string
}

// keyPair is the files of a certificate and its private key, in PEM.
type keyPair struct {
	cert, key string
}

// newAuthority generates a self-signed CA named cn and writes its certificate to dir/<name>.crt.
func newAuthority(t *testing.T, dir, name, cn string) *authority {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	file := filepath.Join(dir, name+".crt")
	writePEM(t, file, "CERTIFICATE", der)
	return &authority{cert: cert, key: key, file: file}
}

// certSpec is what a certificate issued by an authority says: its subject and, for a serving
// certificate, its names.
type certSpec struct {
	cn   string
	orgs []string
	// dns and ips are the subject alternative names; a certificate with any is a serving certificate
	// (and also a client certificate, as etcd's peers and servers use them both ways).
	dns []string
	ips []net.IP
}

// issue signs a certificate for spec and writes it and its key to dir/<name>.crt and dir/<name>.key.
func (a *authority) issue(t *testing.T, dir, name string, spec certSpec) keyPair {
	t.Helper()
	key := newKey(t)
	usage := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	if len(spec.dns) > 0 || len(spec.ips) > 0 {
		usage = append(usage, x509.ExtKeyUsageServerAuth)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(t),
		Subject:      pkix.Name{CommonName: spec.cn, Organization: spec.orgs},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  usage,
		DNSNames:     spec.dns,
		IPAddresses:  spec.ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, key.Public(), a.key)
	require.NoError(t, err)
	kp := keyPair{cert: filepath.Join(dir, name+".crt"), key: filepath.Join(dir, name+".key")}
	writePEM(t, kp.cert, "CERTIFICATE", der)
	writeKey(t, kp.key, key)
	return kp
}

// newSigningKey generates the service-account token signing key and writes the private key to
// dir/<name>.key and the public key to dir/<name>.pub.
func newSigningKey(t *testing.T, dir, name string) keyPair {
	t.Helper()
	key := newKey(t)
	pub, err := x509.MarshalPKIXPublicKey(key.Public())
	require.NoError(t, err)
	kp := keyPair{cert: filepath.Join(dir, name+".pub"), key: filepath.Join(dir, name+".key")}
	writePEM(t, kp.cert, "PUBLIC KEY", pub)
	writeKey(t, kp.key, key)
	return kp
}

// newKey generates an ECDSA P-256 key, which every component accepts and is quick to generate.
func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	return key
}

// serial is a random certificate serial number.
func serial(t *testing.T) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	require.NoError(t, err)
	return n
}

// writeKey writes key to file as a PKCS#8 PEM block, readable only by the owner.
func writeKey(t *testing.T, file string, key crypto.Signer) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	writePEM(t, file, "PRIVATE KEY", der)
}

// writePEM writes one PEM block of type typ to file.
func writePEM(t *testing.T, file, typ string, der []byte) {
	t.Helper()
	require.NoError(t, os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
}
