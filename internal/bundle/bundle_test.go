package bundle_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hpguard/hpguard"
	"github.com/hpguard/hpguard/internal/bundle"
	"github.com/hpguard/hpguard/internal/engine"
	"github.com/hpguard/hpguard/internal/ruleset"
	"github.com/hpguard/hpguard/internal/testutil"
	"github.com/hpguard/hpguard/policies"
)

var (
	inputsOnce sync.Once
	inRuleset  *ruleset.Ruleset
	inFiles    []bundle.File
)

// inputs are the committed policies/rego files, as the generator produces them.
func inputs(t testing.TB) (*ruleset.Ruleset, []bundle.File) {
	inputsOnce.Do(func() {
		rego := policies.Rego()
		require.NoError(t, fs.WalkDir(rego, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := fs.ReadFile(rego, p)
			inFiles = append(inFiles, bundle.File{Path: bundle.RegoDir + "/" + p, Data: b})
			return err
		}))
		data, err := fs.ReadFile(rego, "data.json")
		require.NoError(t, err)
		inRuleset, err = ruleset.Parse(data)
		require.NoError(t, err)
	})
	return inRuleset, inFiles
}

type keyPair struct{ priv, pub []byte }

func rsaKey(t testing.TB) keyPair {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	pub, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	require.NoError(t, err)
	return keyPair{
		priv: pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}),
		pub:  pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}),
	}
}

func ecKey(t testing.TB) keyPair {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalECPrivateKey(k)
	require.NoError(t, err)
	pub, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	require.NoError(t, err)
	return keyPair{
		priv: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}),
		pub:  pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}),
	}
}

func TestBuildIsReproducibleAndCommitted(t *testing.T) {
	_, files := inputs(t)
	start := time.Now()
	a, err := bundle.Build(files, nil)
	require.NoError(t, err)
	t.Logf("bundle build: %d bytes in %s", len(a), time.Since(start))
	b, err := bundle.Build(files, nil)
	require.NoError(t, err)
	require.Equal(t, a, b, "two builds give identical bytes")
	embedded, err := hpguard.Bundle()
	require.NoError(t, err)
	require.Equal(t, a, embedded, "the committed bundle.tar.gz equals a fresh build of the committed policies; run `make generate`")

	// Reordering the inputs changes nothing.
	rev := append([]bundle.File(nil), files...)
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	c, err := bundle.Build(rev, nil)
	require.NoError(t, err)
	require.Equal(t, a, c)

	// RS256 signatures are deterministic too.
	k := rsaKey(t)
	s1, err := bundle.Build(files, &bundle.SignOptions{Key: k.priv})
	require.NoError(t, err)
	s2, err := bundle.Build(files, &bundle.SignOptions{Key: k.priv, Alg: "RS256"})
	require.NoError(t, err)
	require.Equal(t, s1, s2)
}

func TestManifest(t *testing.T) {
	data, err := hpguard.Bundle()
	require.NoError(t, err)
	info, err := bundle.Inspect(data, nil)
	require.NoError(t, err)
	s, files := inputs(t)
	require.Equal(t, []string{s.Package}, info.Roots)
	require.Equal(t, 1, *info.RegoVersion)
	require.True(t, strings.HasPrefix(info.Revision, s.Version+"+"), info.Revision)
	require.Equal(t, bundle.SigUnsigned, info.Signature.Status)
	require.Len(t, info.Metadata["rules"], len(s.Rules))
	require.Len(t, info.Rules, len(s.Rules))
	require.Equal(t, []string{"baseline", "hostprocess", "strict"}, info.Profiles)
	var names []string
	for _, f := range info.Files {
		names = append(names, f.Name)
		require.False(t, strings.HasSuffix(f.Name, "_test.rego"), "tests are not shipped")
	}
	require.Contains(t, names, "data.json")
	require.Contains(t, names, ".manifest")
	require.Contains(t, names, "lib/core.rego")

	// The revision follows the content, not the clock.
	changed := append([]bundle.File(nil), files...)
	for i := range changed {
		if strings.HasSuffix(changed[i].Path, "lib/core.rego") {
			changed[i].Data = append(append([]byte(nil), changed[i].Data...), []byte("\n# changed\n")...)
		}
	}
	other, err := bundle.Build(changed, nil)
	require.NoError(t, err)
	oinfo, err := bundle.Inspect(other, nil)
	require.NoError(t, err)
	require.NotEqual(t, info.Revision, oinfo.Revision)
}

// TestEmbeddedBundleEvaluatesLikePolicies: the embedded bundle carries exactly the Rego and data of
// policies/rego and evaluates the same.
func TestEmbeddedBundleEvaluatesLikePolicies(t *testing.T) {
	fromBundle, err := bundle.Embedded()
	require.NoError(t, err)
	fromDir, err := engine.LoadPolicy(policies.Rego())
	require.NoError(t, err)
	require.Equal(t, fromDir.Modules, fromBundle.Modules)
	require.JSONEq(t, string(fromDir.Data), string(fromBundle.Data))
	require.Equal(t, fromDir.Ruleset, fromBundle.Ruleset)
	ctx := context.Background()
	ev, err := engine.NewOPA(ctx, fromBundle, "strict", nil)
	require.NoError(t, err)
	got, err := ev.Evaluate(ctx, map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": map[string]any{"name": "p"},
		"spec": map[string]any{"securityContext": map[string]any{"windowsOptions": map[string]any{"hostProcess": true}}, "containers": []any{map[string]any{"name": "c"}}}})
	require.NoError(t, err)
	require.NotEmpty(t, got)
}

func TestSignVerifyLoad(t *testing.T) {
	_, files := inputs(t)
	for name, k := range map[string]keyPair{"RS256": rsaKey(t), "ES256": ecKey(t)} {
		t.Run(name, func(t *testing.T) {
			data, err := bundle.Build(files, &bundle.SignOptions{Key: k.priv, Alg: name})
			require.NoError(t, err)
			info, err := bundle.Verify(data, bundle.Key{PEM: k.pub})
			require.NoError(t, err)
			require.Equal(t, bundle.SigVerified, info.Signature.Status)
			require.Equal(t, name, info.Signature.Algorithm)
			require.Equal(t, bundle.DefaultKeyID, info.Signature.KeyID)
			for _, f := range info.Files {
				if f.Name != ".signatures.json" {
					require.NotEmpty(t, f.SignedHash, f.Name)
				}
			}
			p, err := bundle.Load(data, &bundle.Key{PEM: k.pub})
			require.NoError(t, err)
			require.NotEmpty(t, p.Modules)

			other := ecKey(t)
			_, err = bundle.Verify(data, bundle.Key{PEM: other.pub})
			require.Error(t, err, "a different key does not verify")
		})
	}
	unsigned, err := hpguard.Bundle()
	require.NoError(t, err)
	k := rsaKey(t)
	_, err = bundle.Load(unsigned, &bundle.Key{PEM: k.pub})
	var te *bundle.TamperError
	require.ErrorAs(t, err, &te, "an unsigned bundle is refused when a key is given")
	require.Equal(t, ".signatures.json", te.File)
}

func TestTamperedContentNamesTheFile(t *testing.T) {
	_, files := inputs(t)
	k := rsaKey(t)
	data, err := bundle.Build(files, &bundle.SignOptions{Key: k.priv})
	require.NoError(t, err)
	key := bundle.Key{PEM: k.pub}
	_, err = bundle.Verify(testutil.Repack(t, data, func(_ string, b []byte) []byte { return b }), key)
	require.NoError(t, err, "an identical repack verifies")

	cases := map[string]struct {
		edit func(name string, b []byte) []byte
		file string
	}{
		"rego byte": {func(n string, b []byte) []byte {
			if n == "rules/host_network_required.rego" {
				b = bytes.Replace(b, []byte("hostNetwork"), []byte("hostNetworK"), 1)
			}
			return b
		}, "rules/host_network_required.rego"},
		"data value": {func(n string, b []byte) []byte {
			if n == "data.json" {
				b = bytes.Replace(b, []byte(`"deny"`), []byte(`"warn"`), 1)
			}
			return b
		}, "data.json"},
		"data whitespace": {func(n string, b []byte) []byte {
			if n == "data.json" {
				b = bytes.Replace(b, []byte(`":`), []byte(`": `), 1)
			}
			return b
		}, "data.json"},
		"manifest revision": {func(n string, b []byte) []byte {
			if n == ".manifest" {
				b = bytes.Replace(b, []byte(`0.1.0+`), []byte(`0.1.1+`), 1)
			}
			return b
		}, ".manifest"},
		"file removed": {func(n string, b []byte) []byte {
			if n == "rules/os_not_linux.rego" {
				return nil
			}
			return b
		}, "rules/os_not_linux.rego"},
		"signature removed": {func(n string, b []byte) []byte {
			if n == ".signatures.json" {
				return nil
			}
			return b
		}, ".signatures.json"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := bundle.Verify(testutil.Repack(t, data, c.edit), key)
			var te *bundle.TamperError
			require.ErrorAs(t, err, &te)
			require.Equal(t, c.file, te.File, "%v", err)
		})
	}
	t.Run("file added", func(t *testing.T) {
		var buf bytes.Buffer
		zr, err := gzip.NewReader(bytes.NewReader(data))
		require.NoError(t, err)
		raw, err := io.ReadAll(zr)
		require.NoError(t, err)
		// Append an entry before the end-of-archive blocks.
		tw := tar.NewWriter(&buf)
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: "/rules/extra.rego", Mode: 0o600, Typeflag: tar.TypeReg, Size: 5}))
		_, _ = tw.Write([]byte("x:=1\n"))
		require.NoError(t, tw.Flush())
		joined := append(append([]byte(nil), raw[:len(raw)-1024]...), buf.Bytes()...)
		joined = append(joined, make([]byte, 1024)...)
		var out bytes.Buffer
		zw := gzip.NewWriter(&out)
		_, _ = zw.Write(joined)
		require.NoError(t, zw.Close())
		_, err = bundle.Verify(out.Bytes(), key)
		var te *bundle.TamperError
		require.ErrorAs(t, err, &te)
		require.Equal(t, "rules/extra.rego", te.File, "%v", err)
	})
}

// TestEveryOneByteChangeIsRefused flips every byte of a signed bundle, two ways, and verifies each.
func TestEveryOneByteChangeIsRefused(t *testing.T) {
	_, files := inputs(t)
	k := ecKey(t)
	data, err := bundle.Build(files, &bundle.SignOptions{Key: k.priv})
	require.NoError(t, err)
	key := bundle.Key{PEM: k.pub}
	_, err = bundle.Verify(data, key)
	require.NoError(t, err)
	start := time.Now()
	// Under `make test` (HPGUARD_EXHAUSTIVE=1) every byte, flipping bit i%8 of byte i (so every bit
	// position is exercised across the file); otherwise every 13th byte (every 97th with -short). In
	// every mode the gzip header, the end of the deflate stream (whose unused padding bits a decoder
	// ignores) and the gzip trailer get all eight single-bit flips and 0xff.
	exhaustive := os.Getenv("HPGUARD_EXHAUSTIVE") != ""
	stride := 13
	if testing.Short() {
		stride = 97
	}
	n := 0
	buf := make([]byte, len(data))
	for i := range data {
		var masks []byte
		switch {
		case i < 16 || i >= len(data)-64:
			masks = []byte{0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xff}
		case exhaustive || i%stride == 0:
			masks = []byte{1 << (i % 8)}
		}
		for _, m := range masks {
			copy(buf, data)
			buf[i] ^= m
			if _, err := bundle.Verify(buf, key); err == nil {
				t.Fatalf("changing byte %d (xor %#x) of %d went unnoticed", i, m, len(data))
			}
			n++
		}
	}
	t.Logf("content-preserving changes: %s", silentFlips(t, data, key, false))
	t.Logf("%d one-byte changes of a %d-byte signed bundle refused in %s", n, len(data), time.Since(start))
}

func TestInspectJSON(t *testing.T) {
	data, err := hpguard.Bundle()
	require.NoError(t, err)
	info, err := bundle.Inspect(data, nil)
	require.NoError(t, err)
	b, err := json.Marshal(info)
	require.NoError(t, err)
	require.Contains(t, string(b), `"revision":"`+info.Revision+`"`)
	require.Contains(t, string(b), `"severities":{"baseline":"deny","hostprocess":"deny","strict":"deny"}`)
}

// silentFlips finds the single-bit changes that leave the decompressed archive identical (gzip
// header fields, unused deflate padding bits, Huffman code lengths of unused symbols): OPA's
// content-hash check cannot see them, hpguard's canonical-encoding check must refuse each.
func silentFlips(t *testing.T, data []byte, key bundle.Key, all bool) string {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	require.NoError(t, err)
	orig, err := io.ReadAll(zr)
	require.NoError(t, err)
	buf := make([]byte, len(data))
	out := make([]byte, len(orig)+1)
	found, tried := 0, 0
	for i := range data {
		if !all && i >= 16 && i < len(data)-512 {
			continue
		}
		for bit := range 8 {
			copy(buf, data)
			buf[i] ^= 1 << bit
			tried++
			zr, err := gzip.NewReader(bytes.NewReader(buf))
			if err != nil {
				continue
			}
			n, err := io.ReadFull(zr, out)
			if !errors.Is(err, io.ErrUnexpectedEOF) || n != len(orig) || !bytes.Equal(out[:n], orig) {
				continue
			}
			found++
			_, err = bundle.Verify(buf, key)
			require.Error(t, err, "byte %d bit %d leaves the content unchanged and must still be refused", i, bit)
		}
	}
	return fmt.Sprintf("%d of %d single-bit changes leave every file unchanged; all refused", found, tried)
}

// TestLoadFile is what `hpguard check --bundle FILE [--verification-key PEM]` uses.
func TestLoadFile(t *testing.T) {
	_, files := inputs(t)
	k := rsaKey(t)
	dir := t.TempDir()
	signed, err := bundle.Build(files, &bundle.SignOptions{Key: k.priv})
	require.NoError(t, err)
	unsigned, err := hpguard.Bundle()
	require.NoError(t, err)
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, b, 0o600))
		return p
	}
	pub := write("pub.pem", k.pub)
	tampered := append([]byte(nil), signed...)
	tampered[len(tampered)/3] ^= 0x10

	p, err := bundle.LoadFile(write("signed.tar.gz", signed), pub)
	require.NoError(t, err)
	require.NotEmpty(t, p.Modules)
	_, err = bundle.LoadFile(write("signed.tar.gz", signed), "")
	require.NoError(t, err, "without a key the signature is not checked")
	_, err = bundle.LoadFile(write("unsigned.tar.gz", unsigned), "")
	require.NoError(t, err)

	var te *bundle.TamperError
	_, err = bundle.LoadFile(write("unsigned.tar.gz", unsigned), pub)
	require.ErrorAs(t, err, &te, "an unsigned bundle is refused when a key is given")
	_, err = bundle.LoadFile(write("tampered.tar.gz", tampered), pub)
	require.ErrorAs(t, err, &te, "a tampered bundle is refused")
	require.Contains(t, err.Error(), "tampered.tar.gz")
}
