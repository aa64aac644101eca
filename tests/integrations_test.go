package tests

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

// TestActionScript runs the GitHub Action's script as a workflow would, with a local install.
func TestActionScript(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash not available")
	}
	tmp := t.TempDir()
	ghOut := filepath.Join(tmp, "github_output")
	run := func(paths string, extra ...string) (string, int) {
		cmd := exec.Command("bash", filepath.Join("..", "scripts", "action.sh"))
		cmd.Env = append(os.Environ(),
			"HPGUARD_PATHS="+paths,
			"HPGUARD_OUTPUT="+filepath.Join(tmp, "report.sarif"),
			"HPGUARD_BIN="+filepath.Join(tmp, "bin"),
			"GITHUB_OUTPUT="+ghOut,
		)
		cmd.Env = append(cmd.Env, extra...)
		out, _ := cmd.CombinedOutput()
		return string(out), cmd.ProcessState.ExitCode()
	}
	out, code := run(filepath.Join("..", "examples"))
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "::error file=")
	require.Contains(t, out, "::warning file=")
	b, err := os.ReadFile(filepath.Join(tmp, "report.sarif"))
	require.NoError(t, err)
	var sarif map[string]any
	require.NoError(t, json.Unmarshal(b, &sarif))
	require.Equal(t, "2.1.0", sarif["version"])
	gh, err := os.ReadFile(ghOut)
	require.NoError(t, err)
	require.Contains(t, string(gh), "exit-code=1")

	out, code = run(filepath.Join("..", "examples", "seed-pod.yaml"))
	require.Equal(t, 0, code, out)
	out, code = run(filepath.Join("..", "examples", "seed-pod.yaml"), "HPGUARD_FAIL_ON=warn")
	require.Equal(t, 1, code, out)
	out, code = run(filepath.Join("..", "examples", "missing.yaml"))
	require.Equal(t, 2, code, out)
	out, code = run(filepath.Join("..", "examples", "missing.yaml") + " " + filepath.Join("..", "examples", "seed-pod.yaml"))
	require.Equal(t, 2, code, out)
	require.Contains(t, out, "::error file=", "the missing path is annotated")
	// A directory without manifests (a wrong `paths`, or rendering that produced nothing) fails the
	// step unless the workflow says it is expected.
	empty := t.TempDir()
	out, code = run(empty)
	require.Equal(t, 2, code, out)
	require.Contains(t, out, "nothing was checked")
	require.Contains(t, out, "exit 2")
	out, code = run(empty, "HPGUARD_ARGS=--allow-empty")
	require.Equal(t, 0, code, out)

	// Arguments are one per line, passed as they are: a list value with a space needs no quoting.
	collector := filepath.Join("..", "examples", "log-collector.yaml")
	out, code = run(collector)
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "run-as-user-name-allowed")
	out, code = run(collector, "HPGUARD_ARGS=--set\nrun-as-user-name-allowed.allowedLocalGroups=[hpc-logreaders, other-group]\n")
	require.Equal(t, 0, code, out)
	out, code = run(collector, "HPGUARD_ARGS=--set=run-as-user-name-allowed.allowedLocalGroups=[hpc-logreaders, other-group]")
	require.Equal(t, 0, code, out)

	// One run writes both the report and the annotations; a run that fails before it completes
	// (a usage error) leaves no report, not an empty file that looks like a result.
	require.NoError(t, os.WriteFile(filepath.Join(tmp, "report.sarif"), []byte("stale"), 0o644))
	out, code = run(collector, "HPGUARD_ARGS=--no-such-flag")
	require.Equal(t, 2, code, out)
	require.NoFileExists(t, filepath.Join(tmp, "report.sarif"))
	require.Contains(t, out, "no sarif report written")

	// The default paths (.) on a repository with workflows, package.json and other YAML.
	cmd := exec.Command("bash", filepath.Join(mustAbs(t, ".."), "scripts", "action.sh"))
	cmd.Dir = filepath.Join("fixtures", "repo")
	cmd.Env = append(os.Environ(), "HPGUARD_OUTPUT="+filepath.Join(tmp, "repo.sarif"), "HPGUARD_BIN="+filepath.Join(tmp, "bin"),
		"HPGUARD_SOURCE="+mustAbs(t, ".."), "GITHUB_OUTPUT="+ghOut)
	b, _ = cmd.CombinedOutput()
	require.Equal(t, 1, cmd.ProcessState.ExitCode(), "the fixture repository's seeded findings: %s", b)
	require.Contains(t, string(b), "::error file=")
	sb, err := os.ReadFile(filepath.Join(tmp, "repo.sarif"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(sb, &sarif))
	require.Equal(t, "2.1.0", sarif["version"])

	// The repository's .hpguard.yaml decides profile and fail-on unless the workflow sets them.
	repo := t.TempDir()
	seed, err := os.ReadFile(filepath.Join("..", "examples", "seed-pod.yaml"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(repo, "pod.yaml"), seed, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(repo, ".hpguard.yaml"), []byte("fail-on: warn\n"), 0o644))
	inRepo := func(extra ...string) int {
		cmd := exec.Command("bash", filepath.Join(mustAbs(t, ".."), "scripts", "action.sh"))
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "HPGUARD_OUTPUT="+filepath.Join(tmp, "cfg.sarif"), "HPGUARD_BIN="+filepath.Join(tmp, "bin"),
			"HPGUARD_SOURCE="+mustAbs(t, ".."), "GITHUB_OUTPUT="+ghOut)
		cmd.Env = append(cmd.Env, extra...)
		out, _ := cmd.CombinedOutput()
		t.Logf("%s", out)
		return cmd.ProcessState.ExitCode()
	}
	require.Equal(t, 1, inRepo(), "fail-on: warn from .hpguard.yaml fails on the seed pod's warnings")
	require.Equal(t, 0, inRepo("HPGUARD_FAIL_ON=deny"), "the workflow's fail-on wins")
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	require.NoError(t, err)
	return a
}

// TestPreCommitHook checks the hook definition: it runs `hpguard check` on YAML and JSON files.
func TestPreCommitHook(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", ".pre-commit-hooks.yaml"))
	require.NoError(t, err)
	var hooks []map[string]any
	require.NoError(t, yaml.Unmarshal(b, &hooks))
	require.Len(t, hooks, 1)
	h := hooks[0]
	require.Equal(t, "hpguard", h["id"])
	require.Equal(t, "golang", h["language"])
	require.True(t, strings.HasPrefix(h["entry"].(string), "hpguard check"))
	// The hook passes staged files by name: a staged file without documents is not an input error.
	require.Contains(t, strings.Fields(h["entry"].(string)), "--allow-empty")
	require.Equal(t, true, h["pass_filenames"])
	for _, name := range []string{"a.yaml", "b.yml", "c.json"} {
		require.Regexp(t, h["files"].(string), name)
	}
	// pre-commit installs a golang hook with `go install ./...` in this repository: that must build
	// the hpguard command and nothing else (the benchmark programs carry the build tag bench).
	gobin := t.TempDir()
	cmd := exec.Command("go", "install", "./...")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "GOBIN="+gobin)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go install ./...: %s", out)
	entries, err := os.ReadDir(gobin)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	require.Equal(t, []string{"hpguard"}, names, "the hook's install builds only the hpguard command")
}

// TestActionDefinition checks that action.yml passes every input to the script.
func TestActionDefinition(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "action.yml"))
	require.NoError(t, err)
	var action struct {
		Inputs map[string]any `json:"inputs"`
		Runs   struct {
			Using string `json:"using"`
			Steps []struct {
				Env map[string]string `json:"env"`
				Run string            `json:"run"`
			} `json:"steps"`
		} `json:"runs"`
	}
	require.NoError(t, yaml.Unmarshal(b, &action))
	require.Equal(t, "composite", action.Runs.Using)
	script := action.Runs.Steps[len(action.Runs.Steps)-1]
	require.Contains(t, script.Run, "scripts/action.sh")
	for in := range action.Inputs {
		found := false
		for _, v := range script.Env {
			if strings.Contains(v, "inputs."+in+" ") {
				found = true
			}
		}
		require.True(t, found, "input %s reaches the script", in)
	}
}
