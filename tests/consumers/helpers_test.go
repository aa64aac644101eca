// Package consumers runs hpguard's policies in real third-party consumers: a real `opa run --server`
// that pulls the signed bundle from a bundle service, and a real conftest. They need the pinned
// binaries in .bin/ and run only when HPGUARD_CONSUMERS=1 (`make test-consumers`, part of `make test`).
package consumers

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hpguard/hpguard/internal/bundle"
	"github.com/hpguard/hpguard/internal/engine"
	"github.com/hpguard/hpguard/internal/golden"
	"github.com/hpguard/hpguard/internal/report"
	"github.com/hpguard/hpguard/policies"
)

// root is the project root, relative to this package.
const root = "../.."

func requireConsumers(t *testing.T) {
	t.Helper()
	if os.Getenv("HPGUARD_CONSUMERS") == "" {
		t.Skip("consumer tests run with HPGUARD_CONSUMERS=1 (make test-consumers)")
	}
}

// tool returns .bin/<name>, building it with build when it is missing.
func tool(t *testing.T, name string, build ...string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join(root, ".bin", name))
	require.NoError(t, err)
	if _, err := os.Stat(p); err == nil {
		return p
	}
	t.Logf("building %s: %v", name, build)
	cmd := exec.Command(build[0], build[1:]...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOBIN="+filepath.Dir(p))
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "build %s: %s", name, out)
	return p
}

// paramsDoc is the case's parameter overrides ({} when none).
func paramsDoc(c golden.Case) map[string]any {
	if len(c.Params) == 0 {
		return map[string]any{}
	}
	return map[string]any{c.Rule: c.Params}
}

func loadCases(t *testing.T) []golden.Case {
	t.Helper()
	cases, err := golden.Load(os.DirFS(filepath.Join(root, filepath.FromSlash(golden.Dir))))
	require.NoError(t, err)
	return cases
}

// finding is the comparable form of one finding.
type finding struct {
	Rule, Severity, Msg, Field, Container string
}

func (f finding) String() string {
	return fmt.Sprintf("%s/%s %s [%s] %q", f.Severity, f.Rule, f.Field, f.Container, f.Msg)
}

func sortFindings(fs []finding) []finding {
	if fs == nil {
		fs = []finding{}
	}
	sort.Slice(fs, func(i, j int) bool { return fs[i].String() < fs[j].String() })
	return fs
}

func fromReport(rs []report.Finding) []finding {
	var out []finding
	for _, r := range rs {
		out = append(out, finding{Rule: r.Rule, Severity: r.Severity, Msg: r.Message, Field: r.Field, Container: r.Container})
	}
	return sortFindings(out)
}

// fromObjects converts Rego finding objects; only the documented keys may appear.
func fromObjects(items []any) ([]finding, error) {
	var out []finding
	for _, it := range items {
		m, ok := it.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("finding %v is not an object", it)
		}
		var f finding
		for k, v := range m {
			s, ok := v.(string)
			if !ok {
				return nil, fmt.Errorf("finding %v: %s is not a string", m, k)
			}
			switch k {
			case "rule":
				f.Rule = s
			case "severity":
				f.Severity = s
			case "msg":
				f.Msg = s
			case "field":
				f.Field = s
			case "container":
				f.Container = s
			default:
				return nil, fmt.Errorf("finding %v: unexpected key %q", m, k)
			}
		}
		out = append(out, f)
	}
	return sortFindings(out), nil
}

// reference evaluates with hpguard's embedded bundle, one prepared evaluator per profile and params.
type reference struct {
	policy *engine.Policy
	mu     sync.Mutex
	cache  map[string]*engine.OPA
}

func newReference(t *testing.T) *reference {
	p, err := bundle.Embedded()
	require.NoError(t, err)
	return &reference{policy: p, cache: map[string]*engine.OPA{}}
}

func (r *reference) findings(ctx context.Context, profile string, c golden.Case) ([]finding, error) {
	ps := engine.Params{}
	if len(c.Params) > 0 {
		ps[c.Rule] = c.Params
	}
	key, _ := json.Marshal([]any{profile, ps})
	r.mu.Lock()
	ev := r.cache[string(key)]
	if ev == nil {
		var err error
		if ev, err = engine.NewOPA(ctx, r.policy, profile, ps); err != nil {
			r.mu.Unlock()
			return nil, err
		}
		r.cache[string(key)] = ev
	}
	r.mu.Unlock()
	fs, err := ev.Evaluate(ctx, c.Object)
	if err != nil {
		return nil, err
	}
	return fromReport(fs), nil
}

func profiles(t *testing.T, r *reference) []string {
	var out []string
	for _, p := range r.policy.Ruleset.Profiles {
		out = append(out, p.Name)
	}
	require.Contains(t, out, "hostprocess")
	return out
}

// regoFiles are the committed generated policies, as bundle inputs.
func regoFiles(t *testing.T) []bundle.File {
	var files []bundle.File
	rego := policies.Rego()
	require.NoError(t, fs.WalkDir(rego, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(rego, p)
		files = append(files, bundle.File{Path: bundle.RegoDir + "/" + p, Data: b})
		return err
	}))
	return files
}

func rsaKeyPair(t *testing.T) (priv, pub []byte) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}),
		pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// syncBuffer collects a process's output safely.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
