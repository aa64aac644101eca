package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hpguard/hpguard/gatekeeper"
	"github.com/hpguard/hpguard/internal/check"
	"github.com/hpguard/hpguard/internal/engine"
	"github.com/hpguard/hpguard/internal/manifest"
	"github.com/hpguard/hpguard/internal/report"
	"github.com/hpguard/hpguard/vap"
)

// bypassEngine builds an evaluator for a profile. Every engine in bypassEngines must flag every
// manifest of the bypass corpus; adding an engine is adding one entry.
type bypassEngine struct {
	name string
	new  func(ctx context.Context, profile string) (engine.Evaluator, error)
}

var bypassEngines = []bypassEngine{
	{"opa", func(ctx context.Context, profile string) (engine.Evaluator, error) {
		p, err := engine.LoadPolicy(policiesFS())
		if err != nil {
			return nil, err
		}
		return engine.NewOPA(ctx, p, profile, nil)
	}},
	{"gatekeeper", func(ctx context.Context, profile string) (engine.Evaluator, error) {
		return engine.NewGatekeeper(ctx, gatekeeper.FS(), profile, nil)
	}},
	{"cel", func(ctx context.Context, profile string) (engine.Evaluator, error) {
		return engine.LoadCEL(vap.FS(), profile, nil)
	}},
}

// bypassProfiles are the profiles the corpus is checked with.
var bypassProfiles = []string{"baseline", "hostprocess", "strict"}

// bypassExpect says, per workload (file and metadata.name), which rules must flag it under the
// hostprocess profile. Under baseline and strict every workload of the corpus must have a deny
// finding of hostprocess-disallowed (or, for a wrongly typed field, of field-types). The table is
// mirrored in bypass/README.md. A workload of the corpus missing here fails the test.
var bypassExpect = map[string]struct {
	baseline    []string // rules required under baseline and strict
	hostprocess []string // rules required under hostprocess
	inputError  bool     // an input error is an acceptable outcome
}{
	"pod-level-only.yaml/pod-level-only":               {baseline: []string{"hostprocess-disallowed"}},
	"ephemeral-inherits.yaml/ephemeral-inherits":       {baseline: []string{"hostprocess-disallowed"}},
	"init-container.yaml/init-container":               {baseline: []string{"hostprocess-disallowed"}, hostprocess: []string{"hostprocess-all-containers", "host-network-required"}},
	"cronjob.yaml/cronjob":                             {baseline: []string{"hostprocess-disallowed"}, hostprocess: []string{"least-privilege-account"}},
	"podtemplate.yaml/podtemplate":                     {baseline: []string{"hostprocess-disallowed"}, hostprocess: []string{"windows-node-targeting"}},
	"list.yaml/in-a-list":                              {baseline: []string{"hostprocess-disallowed"}, hostprocess: []string{"windows-node-targeting"}},
	"list.yaml/kindless":                               {baseline: []string{"hostprocess-disallowed"}, hostprocess: []string{"windows-node-targeting"}},
	"string-true.yaml/string-true":                     {baseline: []string{"field-types"}, hostprocess: []string{"field-types"}},
	"yaml11-booleans.yaml/yaml11-on":                   {baseline: []string{"hostprocess-disallowed"}, hostprocess: []string{"windows-node-targeting"}},
	"yaml11-booleans.yaml/yaml11-tagged":               {baseline: []string{"hostprocess-disallowed"}, hostprocess: []string{"windows-node-targeting"}},
	"user-lowercase.yaml/user-lowercase":               {baseline: []string{"hostprocess-disallowed"}, hostprocess: []string{"run-as-user-name-allowed"}},
	"user-trailing-space.yaml/user-trailing-space":     {baseline: []string{"hostprocess-disallowed"}, hostprocess: []string{"run-as-user-name-allowed"}},
	"user-forward-slash.yaml/user-forward-slash":       {baseline: []string{"hostprocess-disallowed"}, hostprocess: []string{"run-as-user-name-format", "run-as-user-name-allowed"}},
	"anchor-alias.yaml/anchor-alias":                   {baseline: []string{"hostprocess-disallowed"}, hostprocess: []string{"windows-node-targeting"}},
	"merge-key.yaml/merge-key":                         {baseline: []string{"hostprocess-disallowed"}, hostprocess: []string{"windows-node-targeting"}},
	"duplicate-keys.yaml/duplicate-keys":               {baseline: []string{"hostprocess-disallowed"}, hostprocess: []string{"windows-node-targeting"}},
	"unicode-escapes.json/unicode-escapes":             {baseline: []string{"hostprocess-disallowed"}, hostprocess: []string{"windows-node-targeting"}},
	"bom.yaml/bom":                                     {baseline: []string{"hostprocess-disallowed"}, hostprocess: []string{"windows-node-targeting"}},
	"bom.json/bom-json":                                {baseline: []string{"hostprocess-disallowed"}, hostprocess: []string{"run-as-user-name-required", "windows-node-targeting"}},
	"crlf.yaml/crlf":                                   {baseline: []string{"hostprocess-disallowed"}, hostprocess: []string{"windows-node-targeting"}},
	"multi-document.yaml/multi-document":               {baseline: []string{"hostprocess-disallowed"}, hostprocess: []string{"windows-node-targeting"}},
	"decoy-review.yaml/decoy-review":                   {baseline: []string{"hostprocess-disallowed"}, hostprocess: []string{"windows-node-targeting", "least-privilege-account"}},
	"decoy-request.yaml/decoy-request":                 {baseline: []string{"hostprocess-disallowed"}, hostprocess: []string{"windows-node-targeting"}},
	"lookalike-accounts.yaml/lookalike-long-s":         {baseline: []string{"hostprocess-disallowed"}, hostprocess: []string{"run-as-user-name-allowed", "least-privilege-account"}},
	"lookalike-accounts.yaml/lookalike-administrators": {baseline: []string{"hostprocess-disallowed"}, hostprocess: []string{"run-as-user-name-allowed"}},
	"lookalike-accounts.yaml/lookalike-kelvin":         {baseline: []string{"hostprocess-disallowed"}, hostprocess: []string{"run-as-user-name-allowed"}},
	"lookalike-pipe.yaml/lookalike-pipe":               {baseline: []string{"hostprocess-disallowed"}, hostprocess: []string{"no-named-pipe-or-socket-mounts"}},
}

// bypassRequired returns the rules that must flag a workload under a profile.
func bypassRequired(key, profile string) []string {
	e := bypassExpect[key]
	if profile == "hostprocess" {
		return e.hostprocess
	}
	return e.baseline
}

// checkBypassReport checks a report of the whole corpus: every workload is in the table and has
// every required rule (with deny severity under baseline and strict); returns the number caught.
func checkBypassReport(t *testing.T, who, profile string, rep *report.Report) int {
	t.Helper()
	caught := 0
	seen := map[string]bool{}
	for _, r := range rep.Results {
		key := filepath.Base(r.File) + "/" + r.Name
		switch r.Status {
		case report.StatusSkipped:
			continue
		case report.StatusError:
			if !bypassExpect[key].inputError {
				t.Errorf("%s %s: %s document %d: unexpected input error: %s", who, profile, r.File, r.Document, r.Error)
			}
			caught++
			continue
		}
		if _, ok := bypassExpect[key]; !ok {
			t.Errorf("%s %s: %s is not in bypassExpect (add it, and to bypass/README.md)", who, profile, key)
			continue
		}
		seen[key] = true
		got := map[string]string{}
		for _, f := range r.Findings {
			if got[f.Rule] != report.SeverityDeny {
				got[f.Rule] = f.Severity
			}
		}
		ok := true
		for _, rule := range bypassRequired(key, profile) {
			sev, found := got[rule]
			if !found || (profile != "hostprocess" && sev != report.SeverityDeny) {
				ok = false
				t.Errorf("%s %s: %s NOT CAUGHT by %s (findings: %s)", who, profile, key, rule, messages(r.Findings))
			}
		}
		if profile != "hostprocess" && r.Status == report.StatusChecked && !slices.ContainsFunc(r.Findings, func(f report.Finding) bool { return f.Severity == report.SeverityDeny }) {
			ok = false
			t.Errorf("%s %s: %s has no deny finding", who, profile, key)
		}
		if ok {
			caught++
		}
	}
	for key := range bypassExpect {
		if !seen[key] {
			t.Errorf("%s %s: %s was not checked (missing from the corpus, or read as something else)", who, profile, key)
		}
	}
	return caught
}

// TestBypassCorpus runs tests/bypass through internal/check with every engine and profile.
func TestBypassCorpus(t *testing.T) {
	ctx := context.Background()
	for _, e := range bypassEngines {
		for _, profile := range bypassProfiles {
			t.Run(e.name+"/"+profile, func(t *testing.T) {
				ev, err := e.new(ctx, profile)
				require.NoError(t, err)
				rep, err := check.Run(ctx, check.Options{Paths: []string{"bypass"}, Evaluator: ev, Profile: profile, Workers: 2, Limits: manifest.DefaultOptions()})
				require.NoError(t, err)
				n := checkBypassReport(t, e.name, profile, rep)
				t.Logf("engine %s, profile %s: %d of %d bypass workloads caught", e.name, profile, n, len(bypassExpect))
			})
		}
	}
}

// TestBypassCorpusCLI runs tests/bypass through the hpguard binary with every profile.
func TestBypassCorpusCLI(t *testing.T) {
	bin := hpguardBin(t)
	for _, profile := range bypassProfiles {
		t.Run(profile, func(t *testing.T) {
			out, code := runHpguard(t, bin, "check", "-o", "json", "-q", "--profile", profile, "bypass")
			require.Contains(t, []int{1, 2}, code, "exit status: the corpus must fail the run")
			var rep report.Report
			require.NoError(t, json.Unmarshal(out, &rep))
			n := checkBypassReport(t, "cli", profile, &rep)
			t.Logf("cli, profile %s: %d of %d bypass workloads caught", profile, n, len(bypassExpect))
		})
	}
}

var (
	hpguardBinOnce sync.Once
	hpguardBinPath string
	hpguardBinErr  error
)

// hpguardBin returns $HPGUARD_BIN, or builds cmd/hpguard once into a temporary directory.
func hpguardBin(t testing.TB) string {
	t.Helper()
	hpguardBinOnce.Do(func() {
		if p := os.Getenv("HPGUARD_BIN"); p != "" {
			hpguardBinPath, hpguardBinErr = filepath.Abs(p)
			return
		}
		dir, err := os.MkdirTemp("", "hpguard-tests")
		if err != nil {
			hpguardBinErr = err
			return
		}
		hpguardBinPath = filepath.Join(dir, "hpguard")
		cmd := exec.Command("go", "build", "-o", hpguardBinPath, "../cmd/hpguard")
		if out, err := cmd.CombinedOutput(); err != nil {
			hpguardBinErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	require.NoError(t, hpguardBinErr)
	return hpguardBinPath
}

// runHpguard runs the binary and returns stdout and the exit status (stderr is logged on failure).
func runHpguard(t testing.TB, bin string, args ...string) ([]byte, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return stdout.Bytes(), 0
	case errors.As(err, &ee) && ee.Exited():
		if ee.ExitCode() > 2 {
			t.Logf("hpguard %s: exit %d\n%s", strings.Join(args, " "), ee.ExitCode(), stderr.String())
		}
		return stdout.Bytes(), ee.ExitCode()
	}
	t.Fatalf("hpguard %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	return nil, -1
}

// TestBypassReadme checks that bypass/README.md lists every workload of the table.
func TestBypassReadme(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("bypass", "README.md"))
	require.NoError(t, err)
	keys := make([]string, 0, len(bypassExpect))
	for k := range bypassExpect {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		file, name, _ := strings.Cut(k, "/")
		require.Contains(t, string(b), "| `"+file+"` | `"+name+"` |", "README row for %s", k)
	}
}
