package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	opabundle "github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/util"

	"github.com/hpguard/hpguard/internal/ruleset"
)

// Signature and manifest file names inside a bundle.
const (
	signaturesName = ".signatures.json"
	manifestName   = ".manifest"
	dataName       = "data.json"
)

// Signature states reported by Inspect.
const (
	SigUnsigned = "unsigned"
	SigSigned   = "signed (not verified: no key given)"
	SigVerified = "verified"
	SigInvalid  = "INVALID"
)

// Key is a verification key: a PEM public key (or certificate, or private key), optionally the
// algorithm to require (default: the signature's, if it fits the key type).
type Key struct {
	PEM []byte
	Alg string
}

// TamperError reports a bundle that fails verification; File names the offending file ("" for the
// signature or the archive as a whole).
type TamperError struct {
	File string
	Err  error
}

func (e *TamperError) Error() string {
	if e.File == "" {
		return e.Err.Error()
	}
	return e.File + ": " + e.Err.Error()
}

func (e *TamperError) Unwrap() error { return e.Err }

// Info describes a bundle (bundle inspect).
type Info struct {
	Size        int            `json:"size"`
	SHA256      string         `json:"sha256"`
	Revision    string         `json:"revision"`
	Roots       []string       `json:"roots"`
	RegoVersion *int           `json:"regoVersion,omitempty"`
	Metadata    map[string]any `json:"metadata,omitempty"`
	Signature   SignatureInfo  `json:"signature"`
	Profiles    []string       `json:"profiles"`
	Rules       []RuleInfo     `json:"rules"`
	Files       []FileInfo     `json:"files"`
}

// SignatureInfo is the signature status of a bundle.
type SignatureInfo struct {
	Status    string `json:"status"`
	KeyID     string `json:"keyId,omitempty"`
	Algorithm string `json:"algorithm,omitempty"`
	Error     string `json:"error,omitempty"`
}

// RuleInfo is a rule with its severity in every profile that has it.
type RuleInfo struct {
	ID         string            `json:"id"`
	Title      string            `json:"title"`
	Severities map[string]string `json:"severities"`
}

// FileInfo is one file of the bundle: its size, the SHA-256 of its bytes and, when signed, the hash
// the signature records (OPA hashes JSON files in canonical form).
type FileInfo struct {
	Name       string `json:"name"`
	Size       int    `json:"size"`
	SHA256     string `json:"sha256"`
	SignedHash string `json:"signedHash,omitempty"`
}

type archiveEntry struct {
	name string
	data []byte
}

// canonicalGzipHeader is the gzip header OPA's writer (Go's gzip.Writer) emits: no name, comment,
// extra field or time, default compression, OS unknown.
var canonicalGzipHeader = []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff}

// readArchive unpacks the bundle, rejecting anything but regular files with clean, unique names.
func readArchive(data []byte) ([]archiveEntry, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("not a gzip archive: %w", err)
	}
	zr.Multistream(false)
	tr := tar.NewReader(zr)
	var out []archiveEntry
	seen := map[string]bool{}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("corrupt archive: %w", err)
		}
		if hdr.Typeflag != tar.TypeReg {
			return nil, fmt.Errorf("%s: not a regular file (type %q)", hdr.Name, hdr.Typeflag)
		}
		name := strings.TrimPrefix(hdr.Name, "/")
		if name == "" || path.Clean(name) != name || strings.HasPrefix(name, "../") {
			return nil, fmt.Errorf("%q: not a clean file name", hdr.Name)
		}
		if seen[name] {
			return nil, fmt.Errorf("%s: appears twice", name)
		}
		seen[name] = true
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("%s: corrupt archive: %w", name, err)
		}
		out = append(out, archiveEntry{name: name, data: b})
	}
	// Read the rest of the gzip member: this checks its CRC-32 and length.
	if _, err := io.Copy(io.Discard, zr); err != nil {
		return nil, fmt.Errorf("corrupt archive: %w", err)
	}
	return out, nil
}

// canonical re-encodes entries the way OPA's bundle writer does (tar headers with mode 0600 and no
// owner or time, default gzip): a bundle built by `hpguard bundle build` or `opa build` is
// byte-identical to its canonical form, so comparing them covers every byte of the file,
// including the gzip and tar framing that file hashes do not cover.
func canonical(entries []archiveEntry) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		if err := tw.WriteHeader(&tar.Header{Name: "/" + e.name, Mode: 0o600, Typeflag: tar.TypeReg, Size: int64(len(e.data))}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := errors.Join(tw.Close(), zw.Close()); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// canonicalJSON re-encodes a JSON file the way OPA's writer does.
func canonicalJSON(name string, data []byte) ([]byte, error) {
	var v any
	if name == manifestName {
		var m opabundle.Manifest
		if err := util.UnmarshalJSON(data, &m); err != nil {
			return nil, err
		}
		v = m
	} else if err := util.UnmarshalJSON(data, &v); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Verify checks a signed bundle against key: the signature (.signatures.json, a JWS over the list
// of file hashes) must verify, every file must be listed with a matching hash and every listed file
// must be present (OPA's own checks), JSON files must be in canonical form (OPA hashes their parsed
// content, so whitespace edits would pass its check) and the archive must be the canonical encoding
// of its files. The first failure is returned as a *TamperError naming the file.
func Verify(data []byte, key Key) (*Info, error) {
	info, entries, err := inspect(data)
	if err != nil {
		return info, &TamperError{Err: err}
	}
	if err := verifyEntries(data, entries, key, info); err != nil {
		info.Signature.Status = SigInvalid
		info.Signature.Error = err.Error()
		return info, err
	}
	info.Signature.Status = SigVerified
	return info, nil
}

func verifyEntries(data []byte, entries []archiveEntry, key Key, info *Info) error {
	var sigData []byte
	for _, e := range entries {
		if e.name == signaturesName {
			sigData = e.data
		}
	}
	if sigData == nil {
		return &TamperError{File: signaturesName, Err: errors.New("missing: the bundle is not signed")}
	}
	var sc opabundle.SignaturesConfig
	if err := util.UnmarshalJSON(sigData, &sc); err != nil {
		return &TamperError{File: signaturesName, Err: err}
	}
	vc, err := verificationConfig(key, sc)
	if err != nil {
		return err
	}
	files, err := opabundle.VerifyBundleSignature(sc, vc)
	if err != nil {
		return &TamperError{File: signaturesName, Err: err}
	}
	for i, e := range entries {
		if e.name == signaturesName {
			continue
		}
		if fi, ok := files[e.name]; ok {
			info.Files[i].SignedHash = fi.Hash
		}
		if err := opabundle.VerifyBundleFile(e.name, *bytes.NewBuffer(e.data), files); err != nil {
			return &TamperError{File: e.name, Err: errors.New(strings.TrimPrefix(err.Error(), e.name+": "))}
		}
		if opabundle.IsStructuredDoc(e.name) {
			want, err := canonicalJSON(e.name, e.data)
			if err != nil {
				return &TamperError{File: e.name, Err: err}
			}
			if !bytes.Equal(want, e.data) {
				return &TamperError{File: e.name, Err: errors.New("not in canonical JSON form (bytes changed outside the signed content)")}
			}
		}
	}
	if len(files) > 0 {
		var missing []string
		for name := range files {
			missing = append(missing, name)
		}
		sort.Strings(missing)
		return &TamperError{File: missing[0], Err: fmt.Errorf("listed in the signature but missing from the bundle (%d missing)", len(missing))}
	}
	// Contents verified; now the framing, which file hashes do not cover.
	if !bytes.HasPrefix(data, canonicalGzipHeader) {
		return &TamperError{Err: errors.New("gzip header modified (want no name, time or flags)")}
	}
	want, err := canonical(entries)
	if err != nil {
		return &TamperError{Err: err}
	}
	if !bytes.Equal(want, data) {
		return &TamperError{Err: errors.New("archive framing modified: the file is not the canonical encoding of its verified contents")}
	}
	return nil
}

// verificationConfig maps the one given key to whatever key id the signature names.
func verificationConfig(key Key, sc opabundle.SignaturesConfig) (*opabundle.VerificationConfig, error) {
	pub, err := parsePEMKey(key.PEM)
	if err != nil {
		return nil, fmt.Errorf("verification key: %w", err)
	}
	alg := key.Alg
	if alg == "" && len(sc.Signatures) > 0 {
		alg, _ = jwsHeader(sc.Signatures[0])
	}
	alg, err = pickAlg("verification", pub, alg)
	if err != nil {
		return nil, &TamperError{File: signaturesName, Err: err}
	}
	const kid = "hpguard-verification-key"
	keys := map[string]*opabundle.KeyConfig{kid: {Key: string(key.PEM), Algorithm: alg}}
	return opabundle.NewVerificationConfig(keys, kid, "", nil), nil
}

// jwsHeader returns the alg and kid of a compact JWS without verifying it.
func jwsHeader(token string) (alg, kid string) {
	h, _, _ := strings.Cut(token, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return "", ""
	}
	var hdr struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	_ = json.Unmarshal(b, &hdr)
	return hdr.Alg, hdr.Kid
}

// Inspect describes a bundle; with a key it also verifies it (Signature.Status is SigVerified or
// SigInvalid, and the error is returned).
func Inspect(data []byte, key *Key) (*Info, error) {
	if key != nil {
		return Verify(data, *key)
	}
	info, _, err := inspect(data)
	return info, err
}

func inspect(data []byte) (*Info, []archiveEntry, error) {
	sum := sha256.Sum256(data)
	info := &Info{Size: len(data), SHA256: hex.EncodeToString(sum[:]), Signature: SignatureInfo{Status: SigUnsigned}}
	entries, err := readArchive(data)
	if err != nil {
		return info, nil, err
	}
	var dataJSON []byte
	for _, e := range entries {
		s := sha256.Sum256(e.data)
		info.Files = append(info.Files, FileInfo{Name: e.name, Size: len(e.data), SHA256: hex.EncodeToString(s[:])})
		switch e.name {
		case manifestName:
			var m opabundle.Manifest
			if err := util.UnmarshalJSON(e.data, &m); err != nil {
				return info, entries, &TamperError{File: e.name, Err: err}
			}
			info.Revision = m.Revision
			if m.Roots != nil {
				info.Roots = *m.Roots
			}
			info.RegoVersion = m.RegoVersion
			info.Metadata = m.Metadata
		case dataName:
			dataJSON = e.data
		case signaturesName:
			var sc opabundle.SignaturesConfig
			if err := util.UnmarshalJSON(e.data, &sc); err != nil {
				return info, entries, &TamperError{File: e.name, Err: err}
			}
			info.Signature.Status = SigSigned
			if len(sc.Signatures) > 0 {
				info.Signature.Algorithm, info.Signature.KeyID = jwsHeader(sc.Signatures[0])
			}
		}
	}
	if dataJSON != nil {
		rs, err := ruleset.Parse(dataJSON)
		if err != nil {
			return info, entries, &TamperError{File: dataName, Err: err}
		}
		for _, p := range rs.Profiles {
			info.Profiles = append(info.Profiles, p.Name)
		}
		for _, id := range rs.RuleIDs() {
			ri := RuleInfo{ID: id, Title: rs.Rules[id].Title, Severities: map[string]string{}}
			for _, p := range rs.Profiles {
				if sev, ok := p.Rules[id]; ok {
					ri.Severities[p.Name] = sev
				}
			}
			info.Rules = append(info.Rules, ri)
		}
	}
	return info, entries, nil
}

// Files returns the files of a bundle archive, in archive order, with paths without a leading
// "/" (regular files with clean, unique names only; anything else is an error).
func Files(data []byte) ([]File, error) {
	entries, err := readArchive(data)
	if err != nil {
		return nil, err
	}
	out := make([]File, len(entries))
	for i, e := range entries {
		out[i] = File{Path: e.name, Data: e.data}
	}
	return out, nil
}
