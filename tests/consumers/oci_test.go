package consumers

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/hpguard/hpguard/internal/bundle"
	"github.com/hpguard/hpguard/internal/golden"
	"github.com/hpguard/hpguard/internal/oci"
)

// registryServer is the pinned distribution registry on loopback, with htpasswd authentication
// and its storage in a directory the test can tamper with.
type registryServer struct {
	host    string // 127.0.0.1:port
	storage string
	// dockerConfig is a Docker configuration file with the registry's credentials.
	dockerConfig string
	user, pass   string
}

func startRegistry(t *testing.T) *registryServer {
	t.Helper()
	bin := tool(t, "registry", "make", "--no-print-directory", "registry")
	dir := t.TempDir()
	r := &registryServer{storage: filepath.Join(dir, "storage"), user: "hpguard", pass: "s3cret-for-tests"}
	hash, err := bcrypt.GenerateFromPassword([]byte(r.pass), bcrypt.MinCost)
	require.NoError(t, err)
	htpasswd := filepath.Join(dir, "htpasswd")
	require.NoError(t, os.WriteFile(htpasswd, []byte(r.user+":"+string(hash)+"\n"), 0o600))
	r.host = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  cache:
    blobdescriptor: ""
http:
  addr: %s
  secret: hpguard-test-secret
auth:
  htpasswd:
    realm: hpguard-test
    path: %s
`, r.storage, r.host, htpasswd)
	cfgFile := filepath.Join(dir, "config.yml")
	require.NoError(t, os.WriteFile(cfgFile, []byte(cfg), 0o600))
	logs := &syncBuffer{}
	cmd := exec.Command(bin, "serve", cfgFile)
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.Env = append(os.Environ(), "OTEL_TRACES_EXPORTER=none")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("registry logs:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + r.host + "/v2/")
		if err == nil {
			resp.Body.Close()
			require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "the registry asks for credentials")
			break
		}
		require.True(t, time.Now().Before(deadline), "registry did not start: %v\n%s", err, logs.String())
		time.Sleep(50 * time.Millisecond)
	}
	auth := base64.StdEncoding.EncodeToString([]byte(r.user + ":" + r.pass))
	conf, err := json.Marshal(map[string]any{"auths": map[string]any{r.host: map[string]any{"auth": auth}}})
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "docker"), 0o700))
	r.dockerConfig = filepath.Join(dir, "docker", "config.json")
	require.NoError(t, os.WriteFile(r.dockerConfig, conf, 0o600))
	return r
}

// blob is the registry's stored file for a digest.
func (r *registryServer) blob(digest string) string {
	hex := strings.TrimPrefix(digest, "sha256:")
	return filepath.Join(r.storage, "docker", "registry", "v2", "blobs", "sha256", hex[:2], hex, "data")
}

// TestOCI publishes the signed bundle to a real registry and reads it back the ways it is
// consumed: hpguard by tag and by digest (a tampered blob and missing credentials refused), a real
// OPA server through its OCI bundle service, and the real conftest through `conftest pull`.
func TestOCI(t *testing.T) {
	requireConsumers(t)
	ctx := context.Background()
	reg := startRegistry(t)
	opts := oci.Options{DockerConfig: reg.dockerConfig}
	priv, pub := rsaKeyPair(t)
	files := regoFiles(t)
	signed, err := bundle.Build(files, &bundle.SignOptions{Key: priv, Alg: "RS256"})
	require.NoError(t, err)
	info, err := bundle.Verify(signed, bundle.Key{PEM: pub})
	require.NoError(t, err)
	unsigned, err := bundle.Build(files, nil)
	require.NoError(t, err)
	repo := reg.host + "/policy/hpguard"

	// Without credentials the registry refuses the push.
	_, err = oci.Push(ctx, repo+":1.0", signed, oci.Options{DockerConfig: filepath.Join(t.TempDir(), "none.json")})
	require.Error(t, err)
	require.Contains(t, err.Error(), "docker login "+reg.host)

	first, err := oci.Push(ctx, repo+":1.0", signed, opts)
	require.NoError(t, err)
	inBundle, err := bundle.Files(signed)
	require.NoError(t, err)
	require.Equal(t, 1+len(inBundle)-countNonLayer(inBundle), first.Layers, "the bundle, then a layer per Rego module and data.json")
	again, err := oci.Push(ctx, repo+":1.0", signed, opts)
	require.NoError(t, err)
	require.Equal(t, first.Digest, again.Digest, "the same bundle gives the same manifest")

	pulled, err := oci.Pull(ctx, repo+":1.0", opts)
	require.NoError(t, err)
	require.Equal(t, signed, pulled.Data, "pulled by tag: the pushed bytes")
	require.Equal(t, first.Digest, pulled.Digest)

	// Further tags name the same manifest; an invalid one is refused before anything is pushed.
	tagged, err := oci.Push(ctx, repo+":1.0.0", signed, opts, "1.0-stable", "latest")
	require.NoError(t, err)
	require.Equal(t, first.Digest, tagged.Digest)
	require.Equal(t, []string{"1.0-stable", "latest"}, tagged.Tags)
	for _, tag := range []string{"1.0.0", "1.0-stable", "latest"} {
		m, err := oci.Pull(ctx, repo+":"+tag, opts)
		require.NoError(t, err, tag)
		require.Equal(t, first.Digest, m.Digest, tag)
		require.Equal(t, signed, m.Data, tag)
	}
	_, err = oci.Push(ctx, repo+":1.0.1", signed, opts, "not a tag")
	require.ErrorContains(t, err, `tag "not a tag"`)
	_, err = oci.Pull(ctx, repo+":1.0.1", opts)
	require.Error(t, err, "nothing pushed under 1.0.1")

	// Digest pinning: the tag moves to another bundle; the digest still names the first.
	second, err := oci.Push(ctx, repo+":1.0", unsigned, opts)
	require.NoError(t, err)
	require.NotEqual(t, first.Digest, second.Digest)
	byTag, err := oci.Pull(ctx, repo+":1.0", opts)
	require.NoError(t, err)
	require.Equal(t, unsigned, byTag.Data)
	byDigest, err := oci.Pull(ctx, repo+"@"+first.Digest, opts)
	require.NoError(t, err)
	require.Equal(t, signed, byDigest.Data, "pulled by digest: the first bundle")
	_, err = bundle.Load(byTag.Data, &bundle.Key{PEM: pub})
	require.Error(t, err, "the unsigned bundle fails verification")
	_, err = bundle.Load(byDigest.Data, &bundle.Key{PEM: pub})
	require.NoError(t, err)

	// A tampered blob in the registry's storage is refused by its digest.
	m, err := oci.Manifest(ctx, repo+"@"+first.Digest, opts)
	require.NoError(t, err)
	require.Equal(t, oci.BundleLayer, m.Layers[0].MediaType)
	blob := reg.blob(m.Layers[0].Digest.String())
	orig, err := os.ReadFile(blob)
	require.NoError(t, err)
	bad := append([]byte(nil), orig...)
	bad[len(bad)/2] ^= 0x01
	require.NoError(t, os.WriteFile(blob, bad, 0o644))
	_, err = oci.Pull(ctx, repo+"@"+first.Digest, opts)
	require.Error(t, err, "a blob whose bytes do not match its digest")
	require.Contains(t, err.Error(), "digest")
	require.NoError(t, os.WriteFile(blob, orig, 0o644))
	_, err = oci.Pull(ctx, repo+"@"+first.Digest, opts)
	require.NoError(t, err)

	// The CLI: push (refusing a bundle that does not verify), pull by digest, and check and diff
	// straight from the registry, credentials from DOCKER_CONFIG.
	t.Run("cli", func(t *testing.T) {
		bin := hpguardBinary(t)
		dir := t.TempDir()
		signedFile, unsignedFile, pubFile := filepath.Join(dir, "signed.tar.gz"), filepath.Join(dir, "unsigned.tar.gz"), filepath.Join(dir, "public.pem")
		require.NoError(t, os.WriteFile(signedFile, signed, 0o644))
		require.NoError(t, os.WriteFile(unsignedFile, unsigned, 0o644))
		require.NoError(t, os.WriteFile(pubFile, pub, 0o644))
		conf := filepath.Dir(reg.dockerConfig)

		out, code := runCLI(t, bin, conf, "bundle", "push", repo+":cli", unsignedFile, "--verification-key", pubFile)
		require.Equal(t, 1, code, out)
		require.Contains(t, out, "not pushed")
		out, code = runCLI(t, bin, conf, "bundle", "push", "oci://"+repo+":cli", signedFile, "--verification-key", pubFile, "--tag", "cli-latest")
		require.Equal(t, 0, code, out)
		require.Contains(t, out, repo+"@"+first.Digest, "the same bundle, the same manifest digest")
		require.Contains(t, out, "tagged "+repo+":cli-latest")
		m, err := oci.Pull(ctx, repo+":cli-latest", opts)
		require.NoError(t, err)
		require.Equal(t, first.Digest, m.Digest)

		pulledFile := filepath.Join(dir, "pulled.tar.gz")
		out, code = runCLI(t, bin, conf, "bundle", "pull", repo+"@"+first.Digest, "-o", pulledFile, "--verification-key", pubFile)
		require.Equal(t, 0, code, out)
		require.Contains(t, out, "verified")
		got, err := os.ReadFile(pulledFile)
		require.NoError(t, err)
		require.Equal(t, signed, got)
		out, code = runCLI(t, bin, conf, "bundle", "pull", repo+":1.0", "-o", filepath.Join(dir, "x.tar.gz"), "--verification-key", pubFile)
		require.Equal(t, 1, code, "the tag now names the unsigned bundle: %s", out)
		require.NoFileExists(t, filepath.Join(dir, "x.tar.gz"))
		out, code = runCLI(t, bin, filepath.Join(dir, "no-credentials"), "bundle", "pull", repo+":1.0", "-o", filepath.Join(dir, "y.tar.gz"))
		require.Equal(t, 2, code, out)
		require.Contains(t, out, "docker login "+reg.host)

		fromFile, code := runCLI(t, bin, conf, "check", "-o", "json", "--bundle", signedFile, "--verification-key", pubFile, "examples/")
		require.Equal(t, 1, code, fromFile)
		fromRegistry, code := runCLI(t, bin, conf, "check", "-o", "json", "--bundle", "oci://"+repo+"@"+first.Digest, "--verification-key", pubFile, "examples/")
		require.Equal(t, 1, code, fromRegistry)
		require.Equal(t, fromFile, fromRegistry, "check --bundle oci:// evaluates the pulled bundle")
		out, code = runCLI(t, bin, conf, "check", "--bundle", "oci://"+repo+":1.0", "--verification-key", pubFile, "examples/")
		require.Equal(t, 2, code, out)
		require.Contains(t, out, "verification failed")

		out, code = runCLI(t, bin, conf, "diff", "oci://"+repo+"@"+first.Digest, signedFile, "examples/")
		require.Equal(t, 0, code, out)
		require.Contains(t, out, "0 of 6 workloads change verdict")
	})

	// A real OPA server pulls the signed bundle by digest through its OCI bundle service, verifies
	// it, and decides every golden case as hpguard does.
	t.Run("opa", func(t *testing.T) {
		opa := tool(t, "opa", "go", "build", "-o", ".bin/opa", "github.com/open-policy-agent/opa")
		o := startOPAConfig(t, opa, map[string]any{
			"services": map[string]any{"registry": map[string]any{
				"url":  "http://" + reg.host,
				"type": "oci",
				"credentials": map[string]any{"bearer": map[string]any{
					"scheme": "Basic",
					// OPA base64-encodes the token of an OCI service itself.
					"token": reg.user + ":" + reg.pass,
				}},
			}},
			"bundles": map[string]any{"hpguard": map[string]any{
				"service":  "registry",
				"resource": repo + "@" + first.Digest,
				"polling":  map[string]any{"min_delay_seconds": 1, "max_delay_seconds": 2},
				"signing":  map[string]any{"keyid": bundle.DefaultKeyID},
			}},
			"keys":                  map[string]any{bundle.DefaultKeyID: map[string]any{"algorithm": "RS256", "key": string(pub)}},
			"persistence_directory": t.TempDir(),
		})
		activated := o.waitHealthy(t, 90*time.Second)
		t.Logf("opa pulled and activated %s@%s in %s", repo, first.Digest, activated.Round(time.Millisecond))
		require.Equal(t, info.Revision, o.revision(t))
		ref := newReference(t)
		compareDecisions(t, o, ref, loadCases(t), profiles(t, ref))
	})

	// The real conftest pulls the artifact with the same credentials and agrees with hpguard.
	t.Run("conftest", func(t *testing.T) {
		conftest := tool(t, "conftest", "make", "--no-print-directory", "conftest")
		work := t.TempDir()
		dir := filepath.Join(work, "policy")
		// conftest pull writes under the working directory (--policy is relative to it).
		cmd := exec.Command(conftest, "pull", "oci://"+repo+"@"+first.Digest, "--policy", "policy")
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+filepath.Dir(reg.dockerConfig))
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "conftest pull: %s", out)
		var wrote []string
		_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				rel, _ := filepath.Rel(dir, p)
				wrote = append(wrote, filepath.ToSlash(rel))
			}
			return nil
		})
		t.Logf("conftest pull wrote %d files: %v\n%s", len(wrote), wrote, out)
		for _, f := range inBundle {
			if strings.HasSuffix(f.Path, ".rego") || f.Path == "data.json" {
				got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f.Path)))
				require.NoError(t, err, "conftest pull wrote %s", f.Path)
				require.True(t, bytes.Equal(f.Data, got), "%s as pushed", f.Path)
			}
		}
		ref := newReference(t)
		var plain []golden.Case
		for i, c := range loadCases(t) {
			if len(c.Params) == 0 && i%4 == 0 {
				plain = append(plain, c)
			}
		}
		runConftest(t, conftest, dir, ref, plain, profiles(t, ref))
	})
}

// hpguardBinary builds the CLI from this tree into a temporary directory.
func hpguardBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "hpguard")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/hpguard")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "build hpguard: %s", out)
	return bin
}

// runCLI runs the hpguard binary with DOCKER_CONFIG set and returns its output and exit code.
func runCLI(t *testing.T, bin, dockerConfigDir string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+dockerConfigDir)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return string(out), code
}

// countNonLayer counts the bundle files that get no layer of their own (.manifest, signatures).
func countNonLayer(files []bundle.File) int {
	n := 0
	for _, f := range files {
		if !strings.HasSuffix(f.Path, ".rego") && f.Path != "data.json" {
			n++
		}
	}
	return n
}
