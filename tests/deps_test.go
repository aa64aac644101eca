package tests

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const module = "github.com/hpguard/hpguard"

// The dependency direction: the spec model is read by the generator and the command layer only;
// the runtime reads the compiled ruleset.
var (
	// runtimePackages must not depend on the generator or the spec.
	runtimePackages = []string{"internal/engine", "internal/bundle", "internal/audit", "internal/check",
		"internal/manifest", "internal/report", "internal/ruleset", "internal/golden", "internal/workload"}
	// authoringPackages are the generator and the spec.
	authoringPackages = []string{"generator", "generator/spec"}
	// sharedPackages are the leaves both sides use: the compiled ruleset, the golden cases and the
	// workload kinds. They depend on no other package of the module.
	sharedPackages = []string{"internal/ruleset", "internal/golden", "internal/workload"}
)

// moduleDeps returns, for each package, the packages of the module it depends on (transitively,
// tests excluded), as paths relative to the module.
func moduleDeps(t *testing.T, pkgs []string) map[string][]string {
	t.Helper()
	args := []string{"list", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`}
	for _, p := range pkgs {
		args = append(args, module+"/"+p)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = ".."
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "go list: %s", stderr.String())
	deps := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], module+"/")
		deps[pkg] = []string{}
		for _, d := range fields[1:] {
			if rel, ok := strings.CutPrefix(d, module+"/"); ok {
				deps[pkg] = append(deps[pkg], rel)
			} else if d == module {
				deps[pkg] = append(deps[pkg], ".")
			}
		}
	}
	require.Len(t, deps, len(pkgs))
	return deps
}

// TestDependencyDirection: runtime packages never depend on the generator or the spec, and the
// generator and the spec depend on no runtime package but the shared leaves.
func TestDependencyDirection(t *testing.T) {
	deps := moduleDeps(t, append(slices.Clone(runtimePackages), authoringPackages...))
	for _, p := range runtimePackages {
		for _, d := range deps[p] {
			if d == "generator" || strings.HasPrefix(d, "generator/") {
				t.Errorf("%s depends on %s: runtime packages read the compiled ruleset (internal/ruleset), not the generator or the spec", p, d)
			}
		}
	}
	for _, p := range authoringPackages {
		for _, d := range deps[p] {
			if strings.HasPrefix(d, "internal/") && !slices.Contains(sharedPackages, d) {
				t.Errorf("%s depends on %s: the generator and the spec may use only %s of the internal packages", p, d, strings.Join(sharedPackages, ", "))
			}
			if strings.HasPrefix(d, "cmd/") {
				t.Errorf("%s depends on %s", p, d)
			}
		}
	}
	for _, p := range sharedPackages {
		require.Empty(t, deps[p], "%s is a leaf: it depends on no package of the module", p)
	}
}
