// Package bundle builds, signs, verifies, inspects and loads hpguard's OPA bundle (bundle.tar.gz).
//
// The bundle is written with OPA's own bundle writer (github.com/open-policy-agent/opa/v1/bundle) from
// the generated policies: the Rego v1 modules of policies/rego (tests excluded), its data.json (rule
// metadata and the default parameters of every profile) and a .manifest rendered from the recipe
// bundle.tar.gz.tmpl. The output is byte-reproducible: files are sorted, tar headers carry no
// owner or time, the gzip header no time or name, and the revision is a content hash.
package bundle

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"text/template"

	opabundle "github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/util"

	"github.com/hpguard/hpguard"
	"github.com/hpguard/hpguard/internal/ruleset"
)

const (
	// Path is the project-relative path of the generated bundle.
	Path = "bundle.tar.gz"
	// RegoDir is the project-relative directory of the generated policies the bundle packs.
	RegoDir = "policies/rego"
	// DefaultKeyID is the key id a signature names when none is given.
	DefaultKeyID = "hpguard"
	// RegoVersion is the Rego version of every module (rego_version in the manifest).
	RegoVersion = 1
)

// File is one input file, with a slash path relative to the project root.
type File struct {
	Path string
	Data []byte
}

// SignOptions sign a bundle: a PEM private key (RSA, ECDSA or Ed25519), the JWS algorithm (default:
// RS256 for RSA keys, ES256/ES384/ES512 by ECDSA curve, EdDSA for Ed25519) and the key id.
type SignOptions struct {
	Key   []byte
	Alg   string
	KeyID string
}

// Build writes the bundle of the generated files under policies/rego: every *.rego except
// *_test.rego, data.json, the .manifest rendered from the recipe and, with sign, .signatures.json.
// The manifest's name, version, rules and profiles are those of the ruleset in data.json.
func Build(files []File, sign *SignOptions) ([]byte, error) {
	b, err := assemble(files, hpguard.BundleTemplate())
	if err != nil {
		return nil, err
	}
	if sign != nil {
		alg, err := signingAlg(sign.Key, sign.Alg)
		if err != nil {
			return nil, err
		}
		kid := sign.KeyID
		if kid == "" {
			kid = DefaultKeyID
		}
		sc := opabundle.NewSigningConfig(string(sign.Key), alg, "")
		if err := b.GenerateSignature(sc, kid, false); err != nil {
			return nil, fmt.Errorf("sign bundle: %w", err)
		}
	}
	var buf bytes.Buffer
	if err := opabundle.NewWriter(&buf).DisableFormat(true).Write(*b); err != nil {
		return nil, fmt.Errorf("write bundle: %w", err)
	}
	// Read it back the way OPA will: modules parse as Rego v1, packages and data lie under the roots.
	if _, err := opabundle.NewReader(bytes.NewReader(buf.Bytes())).WithSkipBundleVerification(true).Read(); err != nil {
		return nil, fmt.Errorf("built bundle does not load: %w", err)
	}
	return buf.Bytes(), nil
}

// manifestData is what the recipe sees.
type manifestData struct {
	Name, Version, Package, DefaultProfile string
	Rules, Profiles                        []string
	RegoVersion                            int
	ContentHash                            string
}

func assemble(files []File, recipe string) (*opabundle.Bundle, error) {
	type entry struct {
		rel  string
		data []byte
	}
	var mods []entry
	var dataJSON []byte
	for _, f := range files {
		rel, ok := strings.CutPrefix(f.Path, RegoDir+"/")
		if !ok {
			continue
		}
		switch {
		case strings.HasSuffix(rel, "_test.rego"):
		case strings.HasSuffix(rel, ".rego"):
			mods = append(mods, entry{rel, f.Data})
		case rel == "data.json":
			dataJSON = f.Data
		}
	}
	if len(mods) == 0 {
		return nil, fmt.Errorf("no Rego modules under %s", RegoDir)
	}
	if dataJSON == nil {
		return nil, fmt.Errorf("no %s/data.json", RegoDir)
	}
	rs, err := ruleset.Parse(dataJSON)
	if err != nil {
		return nil, fmt.Errorf("%s/data.json: %w", RegoDir, err)
	}
	sort.Slice(mods, func(i, j int) bool { return mods[i].rel < mods[j].rel })

	// The revision source: every packed file (path and bytes) and the recipe itself.
	h := sha256.New()
	put := func(name string, data []byte) {
		h.Write([]byte(name + "\x00" + strconv.Itoa(len(data)) + "\x00"))
		h.Write(data)
	}
	put("bundle.tar.gz.tmpl", []byte(recipe))
	put("data.json", dataJSON)
	for _, m := range mods {
		put(m.rel, m.data)
	}

	md := manifestData{
		Name: rs.Name, Version: rs.Version, Package: rs.Package,
		DefaultProfile: rs.DefaultProfile, RegoVersion: RegoVersion,
		ContentHash: hex.EncodeToString(h.Sum(nil)),
		Rules:       rs.RuleIDs(),
	}
	for _, p := range rs.Profiles {
		md.Profiles = append(md.Profiles, p.Name)
	}
	manifest, err := renderManifest(recipe, md)
	if err != nil {
		return nil, err
	}

	var data map[string]any
	if err := util.UnmarshalJSON(dataJSON, &data); err != nil {
		return nil, fmt.Errorf("%s/data.json: %w", RegoDir, err)
	}
	b := &opabundle.Bundle{Manifest: *manifest, Data: data}
	for _, m := range mods {
		b.Modules = append(b.Modules, opabundle.ModuleFile{URL: "/" + m.rel, Path: "/" + m.rel, RelativePath: "/" + m.rel, Raw: m.data})
	}
	return b, nil
}

// renderManifest renders the recipe and decodes it strictly into an OPA manifest.
func renderManifest(recipe string, md manifestData) (*opabundle.Manifest, error) {
	funcs := template.FuncMap{
		"json": func(v any) (string, error) {
			b, err := json.Marshal(v)
			return string(b), err
		},
		"short": func(s string) string {
			if len(s) > 12 {
				return s[:12]
			}
			return s
		},
	}
	t, err := template.New("bundle.tar.gz.tmpl").Funcs(funcs).Option("missingkey=error").Parse(recipe)
	if err != nil {
		return nil, fmt.Errorf("bundle recipe: %w", err)
	}
	var out bytes.Buffer
	if err := t.Execute(&out, md); err != nil {
		return nil, fmt.Errorf("bundle recipe: %w", err)
	}
	dec := json.NewDecoder(&out)
	dec.DisallowUnknownFields()
	dec.UseNumber()
	var m opabundle.Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("bundle recipe: rendered .manifest is not a valid manifest: %w", err)
	}
	if m.Revision == "" {
		return nil, errors.New("bundle recipe: rendered .manifest has no revision")
	}
	if m.Roots == nil || len(*m.Roots) == 0 {
		return nil, errors.New("bundle recipe: rendered .manifest must list its roots explicitly")
	}
	if m.RegoVersion == nil || *m.RegoVersion != RegoVersion {
		return nil, fmt.Errorf("bundle recipe: rendered .manifest must set rego_version %d", RegoVersion)
	}
	return &m, nil
}

// parsePEMKey returns the key of a PEM block: a private key, a public key or a certificate's key.
func parsePEMKey(pemData []byte) (any, error) {
	block, _ := pem.Decode(pemData)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	switch block.Type {
	case "RSA PRIVATE KEY":
		return x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		return x509.ParseECPrivateKey(block.Bytes)
	case "PRIVATE KEY":
		return x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PUBLIC KEY":
		return x509.ParsePKCS1PublicKey(block.Bytes)
	case "PUBLIC KEY":
		return x509.ParsePKIXPublicKey(block.Bytes)
	case "CERTIFICATE":
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		return c.PublicKey, nil
	}
	return nil, fmt.Errorf("unsupported PEM block %q", block.Type)
}

// algsFor lists the JWS algorithms a key can sign or verify, the default first.
func algsFor(key any) []string {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return algsFor(&k.PublicKey)
	case *ecdsa.PrivateKey:
		return algsFor(&k.PublicKey)
	case ed25519.PrivateKey:
		return []string{"EdDSA"}
	case *rsa.PublicKey:
		return []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return []string{"ES256"}
		case elliptic.P384():
			return []string{"ES384"}
		case elliptic.P521():
			return []string{"ES512"}
		}
	case ed25519.PublicKey:
		return []string{"EdDSA"}
	}
	return nil
}

// signingAlg checks the key and returns the algorithm (the key's default when alg is empty).
func signingAlg(keyPEM []byte, alg string) (string, error) {
	key, err := parsePEMKey(keyPEM)
	if err != nil {
		return "", fmt.Errorf("signing key: %w", err)
	}
	switch key.(type) {
	case *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey:
	default:
		return "", fmt.Errorf("signing key: want a private key, got %T", key)
	}
	return pickAlg("signing", key, alg)
}

func pickAlg(what string, key any, alg string) (string, error) {
	algs := algsFor(key)
	if len(algs) == 0 {
		return "", fmt.Errorf("%s key: unsupported key type %T", what, key)
	}
	if alg == "" {
		return algs[0], nil
	}
	for _, a := range algs {
		if a == alg {
			return alg, nil
		}
	}
	return "", fmt.Errorf("%s algorithm %s does not fit the key (%T): want one of %s", what, alg, key, strings.Join(algs, ", "))
}
