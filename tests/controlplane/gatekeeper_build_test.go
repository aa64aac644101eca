package controlplane

import (
	"bufio"
	"encoding/json"
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

// gatekeeperModule is the module Gatekeeper's manager, CRDs and webhook configuration come from, at
// the version hpguard's go.mod requires (the version `hpguard check --engine gatekeeper` and gator
// are built with).
const gatekeeperModule = "github.com/open-policy-agent/gatekeeper/v3"

// gatekeeperBinDirEnv names a directory that already holds Gatekeeper's manager (as "manager"); when
// it is set the tests use it and build nothing.
const gatekeeperBinDirEnv = "GATEKEEPER_BIN_DIR"

// gatekeeperBuild is Gatekeeper at hpguard's version: the manager and the module's directory (its
// charts/gatekeeper/crds and webhook configuration).
type gatekeeperBuild struct {
	version, manager, moduleDir string
}

var (
	gatekeeperOnce  sync.Once
	gatekeeperBuilt gatekeeperBuild
	gatekeeperErr   error
)

// gatekeeperManager returns Gatekeeper's manager, built from the module at the version in hpguard's
// go.mod into <repo>/.bin/gatekeeper-<version>/manager the first time and reused afterwards, and the
// module's source directory (downloaded to the module cache).
func gatekeeperManager(t *testing.T) gatekeeperBuild {
	t.Helper()
	gatekeeperOnce.Do(func() { gatekeeperBuilt, gatekeeperErr = buildGatekeeper(t.Logf) })
	require.NoError(t, gatekeeperErr)
	return gatekeeperBuilt
}

// buildGatekeeper finds or builds the manager (see gatekeeperManager); logf reports a build.
func buildGatekeeper(logf func(string, ...any)) (gatekeeperBuild, error) {
	root, err := findRepoRoot()
	if err != nil {
		return gatekeeperBuild{}, err
	}
	version, err := requiredVersion(filepath.Join(root, "go.mod"), gatekeeperModule)
	if err != nil {
		return gatekeeperBuild{}, err
	}
	b := gatekeeperBuild{version: version}
	// The module's files, from the module cache (downloaded if need be). GOFLAGS is cleared: -mod=mod,
	// which the tests run with, is refused outside a module's build list.
	out, err := goOutsideModule("mod", "download", "-json", gatekeeperModule+"@"+version)
	if err != nil {
		return b, err
	}
	var mod struct{ Dir, Error string }
	if err := json.Unmarshal([]byte(out), &mod); err != nil || mod.Dir == "" {
		return b, fmt.Errorf("go mod download %s@%s: %v %s", gatekeeperModule, version, err, mod.Error)
	}
	b.moduleDir = mod.Dir

	if dir := os.Getenv(gatekeeperBinDirEnv); dir != "" {
		b.manager = filepath.Join(dir, "manager")
		return b, executable(b.manager)
	}
	dir := filepath.Join(root, ".bin", "gatekeeper-"+version)
	b.manager = filepath.Join(dir, "manager")
	if executable(b.manager) == nil {
		return b, nil
	}
	// Build into a fresh directory and rename it into place, as buildBinaries does.
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return b, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".gatekeeper-build-")
	if err != nil {
		return b, err
	}
	defer os.RemoveAll(tmp)
	start := time.Now()
	// The manager is the module's main package; go install pkg@version builds it with the module's
	// own go.mod (its replace directives included), as Gatekeeper's release does, stamped with the
	// version as its Makefile does.
	ldflags := "-s -w -X " + gatekeeperModule + "/pkg/version.Version=" + version
	cmd := exec.Command("go", "install", "-trimpath", "-ldflags", ldflags, gatekeeperModule+"@"+version)
	cmd.Env = append(os.Environ(), "GOFLAGS=", "GOWORK=off", "GOBIN="+tmp)
	if out, err := cmd.CombinedOutput(); err != nil {
		return b, fmt.Errorf("go install %s@%s: %w\n%s", gatekeeperModule, version, err, out)
	}
	// go install names the binary after the module path ("gatekeeper", the /v3 suffix dropped).
	if err := os.Rename(filepath.Join(tmp, "gatekeeper"), filepath.Join(tmp, "manager")); err != nil {
		return b, err
	}
	logf("built Gatekeeper's manager %s in %s", version, time.Since(start).Round(time.Second))
	if err := os.Rename(tmp, dir); err != nil && executable(b.manager) != nil {
		return b, fmt.Errorf("install Gatekeeper's manager: %w", err)
	}
	return b, executable(b.manager)
}

// requiredVersion reads the version of module in the go.mod file gomod (a require line, in a block
// or not).
func requiredVersion(gomod, module string) (string, error) {
	f, err := os.Open(gomod)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(strings.TrimPrefix(strings.TrimSpace(sc.Text()), "require "))
		if len(fields) >= 2 && fields[0] == module && strings.HasPrefix(fields[1], "v") {
			return fields[1], nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("%s does not require %s", gomod, module)
}

// goOutsideModule runs the go command with GOFLAGS cleared and returns its standard output.
func goOutsideModule(args ...string) (string, error) {
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), "GOFLAGS=", "GOWORK=off")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

// executable reports an error unless file exists and is executable.
func executable(file string) error {
	fi, err := os.Stat(file)
	if err != nil {
		return err
	}
	if fi.Mode()&0o111 == 0 {
		return fmt.Errorf("%s is not executable", file)
	}
	return nil
}
