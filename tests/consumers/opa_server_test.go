package consumers

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hpguard/hpguard/internal/bundle"
	"github.com/hpguard/hpguard/internal/golden"
	"github.com/hpguard/hpguard/internal/testutil"
)

// bundleServer is a loopback bundle service: it serves the current bytes with an ETag.
type bundleServer struct {
	*httptest.Server
	current   atomic.Pointer[[]byte]
	downloads sync.Map // etag -> *atomic.Int64 (full downloads, not 304s)
}

func etag(b []byte) string {
	s := sha256.Sum256(b)
	return `"` + hex.EncodeToString(s[:8]) + `"`
}

func newBundleServer(t *testing.T, data []byte) *bundleServer {
	bs := &bundleServer{}
	bs.current.Store(&data)
	bs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/bundles/hpguard.tar.gz" {
			http.NotFound(w, r)
			return
		}
		b := *bs.current.Load()
		tag := etag(b)
		w.Header().Set("ETag", tag)
		if r.Header.Get("If-None-Match") == tag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		n, _ := bs.downloads.LoadOrStore(tag, new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
		w.Header().Set("Content-Type", "application/gzip")
		_, _ = w.Write(b)
	}))
	t.Cleanup(bs.Close)
	return bs
}

func (bs *bundleServer) served(b []byte) int64 {
	n, ok := bs.downloads.Load(etag(b))
	if !ok {
		return 0
	}
	return n.(*atomic.Int64).Load()
}

type opaServer struct {
	url  string
	logs *syncBuffer
	http *http.Client
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startOPA runs the pinned `opa run --server` with the bundle service and signature verification.
func startOPA(t *testing.T, opa, serviceURL string, pubPEM []byte) *opaServer {
	cfg := map[string]any{
		"services": map[string]any{"bundle-service": map[string]any{"url": serviceURL}},
		"bundles": map[string]any{"hpguard": map[string]any{
			"service":  "bundle-service",
			"resource": "bundles/hpguard.tar.gz",
			"polling":  map[string]any{"min_delay_seconds": 1, "max_delay_seconds": 1},
			"signing":  map[string]any{"keyid": bundle.DefaultKeyID},
		}},
		"keys": map[string]any{bundle.DefaultKeyID: map[string]any{"algorithm": "RS256", "key": string(pubPEM)}},
	}
	return startOPAConfig(t, opa, cfg)
}

// startOPAConfig runs the pinned `opa run --server` with the configuration cfg.
func startOPAConfig(t *testing.T, opa string, cfg map[string]any) *opaServer {
	dir := t.TempDir()
	b, err := json.Marshal(cfg)
	require.NoError(t, err)
	cfgFile := filepath.Join(dir, "opa.json")
	require.NoError(t, os.WriteFile(cfgFile, b, 0o600))
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	logs := &syncBuffer{}
	cmd := exec.Command(opa, "run", "--server", "--addr", addr, "--config-file", cfgFile,
		"--log-format", "json", "--log-level", "info", "--log-level-request", "error")
	cmd.Stdout, cmd.Stderr = logs, logs
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("opa logs:\n%s", logs.String())
		}
	})
	return &opaServer{url: "http://" + addr, logs: logs, http: &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 16},
	}}
}

func (o *opaServer) do(method, path string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, o.url+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := o.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func (o *opaServer) waitHealthy(t *testing.T, timeout time.Duration) time.Duration {
	start := time.Now()
	for time.Since(start) < timeout {
		if code, _, err := o.do("GET", "/health?bundles", nil); err == nil && code == http.StatusOK {
			return time.Since(start)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("opa did not activate the bundle within %s", timeout)
	return 0
}

func (o *opaServer) revision(t *testing.T) string {
	code, b, err := o.do("GET", "/v1/data/system/bundles/hpguard/manifest/revision", nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code, string(b))
	var r struct{ Result string }
	require.NoError(t, json.Unmarshal(b, &r))
	return r.Result
}

// decision asks the server for the profile's findings of the case: the data API for default
// parameters; with parameters, the query API with `with data.hpguard.params as ...` (the bundle
// owns the hpguard root, so parameters cannot be pushed through the data API).
func (o *opaServer) decision(profile string, c golden.Case) ([]finding, error) {
	pkg := strings.ReplaceAll(profile, "-", "_")
	if len(c.Params) == 0 {
		code, b, err := o.do("POST", "/v1/data/hpguard/profiles/"+pkg+"/findings", map[string]any{"input": c.Object})
		if err != nil {
			return nil, err
		}
		if code != http.StatusOK {
			return nil, fmt.Errorf("status %d: %s", code, b)
		}
		var r struct {
			Result *[]any `json:"result"`
		}
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, err
		}
		if r.Result == nil {
			return nil, fmt.Errorf("undefined decision: %s", b)
		}
		return fromObjects(*r.Result)
	}
	params, err := json.Marshal(paramsDoc(c))
	if err != nil {
		return nil, err
	}
	q := fmt.Sprintf("findings := data.hpguard.profiles.%s.findings with data.hpguard.params as %s", pkg, params)
	code, b, err := o.do("POST", "/v1/query", map[string]any{"query": q, "input": c.Object})
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("status %d: %s", code, b)
	}
	var r struct {
		Result []struct {
			Findings []any `json:"findings"`
		} `json:"result"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	if len(r.Result) != 1 {
		return nil, fmt.Errorf("query gave %d results: %s", len(r.Result), b)
	}
	return fromObjects(r.Result[0].Findings)
}

// TestOPAServerBundle: a real OPA server pulls the signed bundle from a loopback bundle service,
// verifies and activates it, and decides every golden case under every profile exactly as hpguard
// does; tampered bundles are refused by OPA and by hpguard.
func TestOPAServerBundle(t *testing.T) {
	requireConsumers(t)
	opa := tool(t, "opa", "go", "build", "-o", ".bin/opa", "github.com/open-policy-agent/opa")
	start := time.Now()
	files := regoFiles(t)
	priv, pub := rsaKeyPair(t)
	signed, err := bundle.Build(files, &bundle.SignOptions{Key: priv, Alg: "RS256"})
	require.NoError(t, err)
	info, err := bundle.Verify(signed, bundle.Key{PEM: pub})
	require.NoError(t, err)

	srv := newBundleServer(t, signed)
	o := startOPA(t, opa, srv.URL, pub)
	activated := o.waitHealthy(t, 60*time.Second)
	t.Logf("opa activated the signed bundle %s in %s (process start included)", info.Revision, activated.Round(time.Millisecond))
	require.Equal(t, info.Revision, o.revision(t))
	require.EqualValues(t, 1, srv.served(signed))

	// Every golden case under every profile, 8 requests in flight.
	ref := newReference(t)
	cases := loadCases(t)
	profs := profiles(t, ref)
	compareDecisions(t, o, ref, cases, profs)

	// Tampered bundles: hpguard's verify refuses them and OPA refuses to activate them, keeping the
	// verified revision.
	probe := cases[0]
	before, err := o.decision("hostprocess", probe)
	require.NoError(t, err)
	tampered := map[string][]byte{
		"one byte of a module": repackEdit(t, signed, "rules/host_network_required.rego", func(b []byte) []byte {
			i := bytes.Index(b, []byte("hostNetwork"))
			require.GreaterOrEqual(t, i, 0)
			b[i] = 'H'
			return b
		}),
		"one byte of the archive": func() []byte {
			b := append([]byte(nil), signed...)
			b[len(b)/2] ^= 0x01
			return b
		}(),
		"unsigned": func() []byte {
			u, err := bundle.Build(files, nil)
			require.NoError(t, err)
			return u
		}(),
	}
	for name, bad := range tampered {
		t.Run("tampered/"+name, func(t *testing.T) {
			_, err := bundle.Verify(bad, bundle.Key{PEM: pub})
			require.Error(t, err, "hpguard verify refuses it")
			t.Logf("hpguard: %v", err)
			logStart := len(o.logs.String())
			srv.current.Store(&bad)
			deadline := time.Now().Add(20 * time.Second)
			var logged string
			for time.Now().Before(deadline) {
				if srv.served(bad) > 0 {
					if l := o.logs.String()[logStart:]; strings.Contains(l, "Bundle load failed") {
						logged = l
						break
					}
				}
				time.Sleep(100 * time.Millisecond)
			}
			require.NotEmpty(t, logged, "opa downloaded the tampered bundle and logged its refusal")
			for _, line := range strings.Split(logged, "\n") {
				if strings.Contains(line, "Bundle load failed") {
					t.Logf("opa: %s", line)
					break
				}
			}
			require.Equal(t, info.Revision, o.revision(t), "opa keeps the verified revision")
			after, err := o.decision("hostprocess", probe)
			require.NoError(t, err)
			require.Equal(t, before, after)
		})
	}

	// A change that leaves every file's bytes as they were (an unused bit of the deflate stream):
	// hpguard refuses it (the archive is not the canonical encoding of its contents); OPA, whose
	// check covers file contents only, is expected to activate it, which is harmless.
	t.Run("content-preserving", func(t *testing.T) {
		silent := contentPreservingFlip(t, signed)
		_, err := bundle.Verify(silent, bundle.Key{PEM: pub})
		require.Error(t, err, "hpguard verify refuses it")
		t.Logf("hpguard: %v", err)
		logStart := len(o.logs.String())
		srv.current.Store(&silent)
		deadline := time.Now().Add(20 * time.Second)
		for srv.served(silent) == 0 && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		require.Positive(t, srv.served(silent))
		time.Sleep(500 * time.Millisecond)
		refused := strings.Contains(o.logs.String()[logStart:], "Bundle load failed")
		t.Logf("opa refused it: %v (its revision: %s)", refused, o.revision(t))
	})
	srv.current.Store(&signed)
	t.Logf("opa server test took %s", time.Since(start).Round(time.Millisecond))
}

// repackEdit rewrites one file of a bundle, keeping everything else (including the signature).
func repackEdit(t *testing.T, data []byte, name string, edit func([]byte) []byte) []byte {
	return testutil.Repack(t, data, func(n string, b []byte) []byte {
		if n == name {
			return edit(b)
		}
		return b
	})
}

// contentPreservingFlip returns the bundle with one bit changed near its end such that the
// decompressed archive is unchanged.
func contentPreservingFlip(t *testing.T, data []byte) []byte {
	orig := gunzip(t, data)
	for i := len(data) - 9; i > len(data)-1024; i-- {
		for bit := range 8 {
			b := append([]byte(nil), data...)
			b[i] ^= 1 << bit
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				continue
			}
			if out, err := io.ReadAll(zr); err == nil && bytes.Equal(out, orig) {
				return b
			}
		}
	}
	t.Fatal("no content-preserving single-bit change found")
	return nil
}

func gunzip(t *testing.T, data []byte) []byte {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	require.NoError(t, err)
	out, err := io.ReadAll(zr)
	require.NoError(t, err)
	return out
}

// compareDecisions asks the OPA server for every golden case under every profile, 8 requests in
// flight, and requires its findings to equal hpguard's.
func compareDecisions(t *testing.T, o *opaServer, ref *reference, cases []golden.Case, profs []string) {
	type job struct {
		profile string
		c       golden.Case
	}
	jobs := make(chan job)
	var mu sync.Mutex
	var mismatches []string
	var compared, withFindings, withParams, opaTime, refTime atomic.Int64
	var wg sync.WaitGroup
	ctx := context.Background()
	decStart := time.Now()
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				t0 := time.Now()
				got, err := o.decision(j.profile, j.c)
				t1 := time.Now()
				var want []finding
				if err == nil {
					want, err = ref.findings(ctx, j.profile, j.c)
				}
				opaTime.Add(int64(t1.Sub(t0)))
				refTime.Add(int64(time.Since(t1)))
				mu.Lock()
				switch {
				case err != nil:
					mismatches = append(mismatches, fmt.Sprintf("%s %s: %v", j.profile, j.c.Name, err))
				case fmt.Sprint(got) != fmt.Sprint(want):
					mismatches = append(mismatches, fmt.Sprintf("%s %s:\n  opa:     %v\n  hpguard: %v", j.profile, j.c.Name, got, want))
				}
				mu.Unlock()
				compared.Add(1)
				if len(want) > 0 {
					withFindings.Add(1)
				}
				if len(j.c.Params) > 0 {
					withParams.Add(1)
				}
			}
		}()
	}
	for _, p := range profs {
		for _, c := range cases {
			jobs <- job{p, c}
		}
	}
	close(jobs)
	wg.Wait()
	decisions := time.Since(decStart)
	if len(mismatches) > 10 {
		mismatches = append(mismatches[:10], fmt.Sprintf("... and %d more", len(mismatches)-10))
	}
	require.Empty(t, mismatches, "opa server decisions differ from hpguard")
	require.EqualValues(t, len(cases)*len(profs), compared.Load())
	t.Logf("compared %d decisions (%d golden cases x %d profiles; %d with findings, %d via the query API with parameters) in %s "+
		"(8 in flight; summed request time: opa %s, hpguard %s)",
		compared.Load(), len(cases), len(profs), withFindings.Load(), withParams.Load(), decisions.Round(time.Millisecond),
		time.Duration(opaTime.Load()).Round(time.Millisecond), time.Duration(refTime.Load()).Round(time.Millisecond))
}
