package controlplane

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// kubernetesModule is the module kube-apiserver and kubectl are built from, at the version this
// module's go.mod requires.
const kubernetesModule = "k8s.io/kubernetes"

// binDirEnv names a directory that already holds kube-apiserver and kubectl; when it is set the tests
// use those binaries and build nothing.
const binDirEnv = "CONTROLPLANE_BIN_DIR"

// binaries are the control plane's programs, built once per test binary.
type binaries struct {
	// version is k8s.io/kubernetes's module version (v1.36.2).
	version string
	// apiserver and kubectl are the executables' paths.
	apiserver, kubectl string
}

var (
	buildOnce sync.Once
	built     binaries
	buildErr  error
)

// controlPlaneBinaries returns kube-apiserver and kubectl, built from k8s.io/kubernetes at the version
// in go.mod into <repo>/.bin/controlplane-<version>/ the first time and reused afterwards (the
// directory is keyed on the version, so a version bump builds anew).
func controlPlaneBinaries(t *testing.T) binaries {
	t.Helper()
	buildOnce.Do(func() { built, buildErr = buildBinaries(t.Logf) })
	require.NoError(t, buildErr)
	return built
}

// buildBinaries finds or builds the binaries (see controlPlaneBinaries); logf reports a build.
func buildBinaries(logf func(string, ...any)) (binaries, error) {
	if dir := os.Getenv(binDirEnv); dir != "" {
		b := binaries{version: "(" + binDirEnv + ")", apiserver: filepath.Join(dir, "kube-apiserver"),
			kubectl: filepath.Join(dir, "kubectl")}
		return b, b.check()
	}
	version, err := goCommand("list", "-m", "-f", "{{.Version}}", kubernetesModule)
	if err != nil {
		return binaries{}, err
	}
	root, err := findRepoRoot()
	if err != nil {
		return binaries{}, err
	}
	dir := filepath.Join(root, ".bin", "controlplane-"+version)
	b := binaries{version: version, apiserver: filepath.Join(dir, "kube-apiserver"),
		kubectl: filepath.Join(dir, "kubectl")}
	if b.check() == nil {
		return b, nil
	}

	// Build into a fresh directory next to the cache and rename it into place, so that a build that
	// fails or is interrupted leaves nothing half-done and concurrent test runs do not collide.
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return binaries{}, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".controlplane-build-")
	if err != nil {
		return binaries{}, err
	}
	defer os.RemoveAll(tmp)
	start := time.Now()
	if _, err := goCommand(append([]string{"build", "-mod=mod", "-trimpath", "-ldflags", versionLDFlags(version),
		"-o", tmp + string(filepath.Separator)}, toolPackages()...)...); err != nil {
		return binaries{}, err
	}
	logf("built kube-apiserver and kubectl %s in %s", version, time.Since(start).Round(time.Second))
	if err := os.Rename(tmp, dir); err != nil && b.check() != nil {
		return binaries{}, fmt.Errorf("install the control plane binaries: %w", err)
	}
	return b, b.check()
}

// toolPackages are the main packages built: the tool directives of go.mod.
func toolPackages() []string {
	return []string{kubernetesModule + "/cmd/kube-apiserver", kubernetesModule + "/cmd/kubectl"}
}

// versionLDFlags stamps the binaries with their release version as Kubernetes' own build does, so
// that they report v1.36.2 (and not v0.0.0-master) to each other and in /version. It strips the
// symbol table and DWARF, which makes the link step faster.
func versionLDFlags(version string) string {
	const pkg = "k8s.io/component-base/version"
	flags := []string{"-s", "-w", "-X", pkg + ".gitVersion=" + version, "-X", pkg + ".gitTreeState=clean"}
	if parts := strings.SplitN(strings.TrimPrefix(version, "v"), ".", 3); len(parts) == 3 {
		flags = append(flags, "-X", pkg+".gitMajor="+parts[0], "-X", pkg+".gitMinor="+parts[1])
	}
	return strings.Join(flags, " ")
}

// check reports an error unless both binaries exist and are executable.
func (b binaries) check() error {
	var errs []error
	for _, f := range []string{b.apiserver, b.kubectl} {
		if fi, err := os.Stat(f); err != nil {
			errs = append(errs, err)
		} else if fi.Mode()&0o111 == 0 {
			errs = append(errs, fmt.Errorf("%s is not executable", f))
		}
	}
	return errors.Join(errs...)
}

// goCommand runs the go command in this module's directory and returns its trimmed standard output.
func goCommand(args ...string) (string, error) {
	cmd := exec.Command("go", args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(string(out)), nil
}

// repoRoot is the hpguard repository: this module is tests/controlplane in it.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := findRepoRoot()
	require.NoError(t, err)
	return root
}

// findRepoRoot returns the hpguard repository's directory, two levels above this module's.
func findRepoRoot() (string, error) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		return "", err
	}
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(string(gomod), "module github.com/hpguard/hpguard\n") {
		return "", fmt.Errorf("%s is not hpguard's repository", root)
	}
	return root, nil
}
