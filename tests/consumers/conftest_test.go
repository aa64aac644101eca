package consumers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hpguard/hpguard"
	"github.com/hpguard/hpguard/internal/golden"
	"github.com/hpguard/hpguard/internal/testutil"
)

// conftestVersion is the pinned conftest (CONFTEST_VERSION in mk/bundle.mk, which builds it into
// .bin/ against hpguard's OPA version).
const conftestVersion = "v0.71.1"

// conftestResult is one entry of `conftest test -o json`: a deny/warn object's msg becomes the
// result's msg, its other keys (rule, severity, field, container) the result's metadata, to which
// conftest adds the query.
type conftestResult struct {
	Filename  string `json:"filename"`
	Namespace string `json:"namespace"`
	Successes int    `json:"successes"`
	Failures  []struct {
		Msg      string         `json:"msg"`
		Metadata map[string]any `json:"metadata"`
	} `json:"failures"`
	Warnings []struct {
		Msg      string         `json:"msg"`
		Metadata map[string]any `json:"metadata"`
	} `json:"warnings"`
	Exceptions []any `json:"exceptions"`
}

func (r conftestResult) findings(profile string) ([]finding, error) {
	var items []any
	add := func(kind, msg string, md map[string]any) error {
		want := fmt.Sprintf("data.hpguard.profiles.%s.%s", strings.ReplaceAll(profile, "-", "_"), kind)
		if md["query"] != want {
			return fmt.Errorf("%s: result of query %v, want %s", r.Filename, md["query"], want)
		}
		o := map[string]any{"msg": msg}
		for k, v := range md {
			if k != "query" {
				o[k] = v
			}
		}
		if o["severity"] != kind {
			return fmt.Errorf("%s: %s result with severity %v", r.Filename, kind, o["severity"])
		}
		items = append(items, o)
		return nil
	}
	for _, f := range r.Failures {
		if err := add("deny", f.Msg, f.Metadata); err != nil {
			return nil, err
		}
	}
	for _, w := range r.Warnings {
		if err := add("warn", w.Msg, w.Metadata); err != nil {
			return nil, err
		}
	}
	return fromObjects(items)
}

// extractBundle unpacks the embedded bundle.tar.gz into a directory (what an operator does with a
// downloaded bundle to hand it to conftest).
func extractBundle(t *testing.T) string {
	data, err := hpguard.Bundle()
	require.NoError(t, err)
	dir := t.TempDir()
	testutil.Repack(t, data, func(name string, b []byte) []byte {
		p := filepath.Join(dir, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, b, 0o644))
		return b
	})
	return dir
}

// TestConftest runs the pinned conftest on every golden manifest under every profile
// (`conftest test --policy DIR --namespace hpguard.profiles.<p> -o json`) and compares its verdicts
// and messages with hpguard's: per file, conftest's failures are hpguard's deny findings and its
// warnings hpguard's warn findings (message, rule, field, container). Cases with rule parameters
// pass them as `--data` ({"hpguard": {"params": {...}}}), one run per parameter set.
func TestConftest(t *testing.T) {
	requireConsumers(t)
	conftest := tool(t, "conftest", "make", "--no-print-directory", "conftest")
	ref := newReference(t)
	cases := loadCases(t)
	profs := profiles(t, ref)
	policyDirs := map[string]string{
		"policies-rego": filepath.Join(root, "policies", "rego"),
		"bundle":        extractBundle(t),
	}
	// policies/rego: every case under every profile. The bundle's files: every 4th case without
	// parameters under every profile (the same modules; this shows the bundle works unchanged).
	t.Run("policies-rego", func(t *testing.T) {
		runConftest(t, conftest, policyDirs["policies-rego"], ref, cases, profs)
	})
	t.Run("bundle", func(t *testing.T) {
		var plain []golden.Case
		for i, c := range cases {
			if len(c.Params) == 0 && i%4 == 0 {
				plain = append(plain, c)
			}
		}
		runConftest(t, conftest, policyDirs["bundle"], ref, plain, profs)
	})
}

func runConftest(t *testing.T, conftest, policyDir string, ref *reference, cases []golden.Case, profs []string) {
	start := time.Now()
	policyDir, err := filepath.Abs(policyDir)
	require.NoError(t, err)
	tmp := t.TempDir()

	// One conftest run per profile and parameter set. A rule's parameters only matter under the
	// profiles that include the rule; elsewhere the case joins the profile's run without parameters
	// (and the comparison with hpguard, which does get the parameters, confirms it).
	type run struct {
		profile, params string
		cases           []golden.Case
	}
	var runs []run
	for _, p := range profs {
		prof, err := ref.policy.Ruleset.Profile(p)
		require.NoError(t, err)
		groups := map[string][]golden.Case{}
		for _, c := range cases {
			doc := map[string]any{}
			if _, ok := prof.Rules[c.Rule]; ok {
				doc = paramsDoc(c)
			}
			key, _ := json.Marshal(doc)
			groups[string(key)] = append(groups[string(key)], c)
		}
		keys := make([]string, 0, len(groups))
		for k := range groups {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			runs = append(runs, run{p, k, groups[k]})
		}
	}
	var mu sync.Mutex
	var problems []string
	compared, failing, warned := 0, 0, 0
	sem := make(chan struct{}, 2)
	var wg sync.WaitGroup
	ctx := context.Background()
	for i, r := range runs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			args := []string{"test", "--no-color", "-o", "json", "--policy", policyDir,
				"--namespace", "hpguard.profiles." + strings.ReplaceAll(r.profile, "-", "_")}
			if r.params != "{}" {
				f := filepath.Join(tmp, fmt.Sprintf("params-%d.json", i))
				doc := fmt.Sprintf(`{"hpguard": {"params": %s}}`, r.params)
				if err := os.WriteFile(f, []byte(doc), 0o644); err != nil {
					panic(err)
				}
				args = append(args, "--data", f)
			}
			byFile := map[string]golden.Case{}
			for _, c := range r.cases {
				args = append(args, c.File)
				byFile[c.File] = c
			}
			cmd := exec.Command(conftest, args...)
			cmd.Dir = root
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var results []conftestResult
			jerr := json.Unmarshal(stdout.Bytes(), &results)
			mu.Lock()
			defer mu.Unlock()
			if jerr != nil || len(results) != len(r.cases) {
				problems = append(problems, fmt.Sprintf("%s params %s: conftest (%v): %d results for %d files: %v\n%s", r.profile, r.params, err, len(results), len(r.cases), jerr, firstLines(stderr.String(), 10)))
				return
			}
			for _, res := range results {
				c, ok := byFile[res.Filename]
				if !ok {
					problems = append(problems, "unexpected conftest result for "+res.Filename)
					continue
				}
				got, err := res.findings(r.profile)
				if err != nil {
					problems = append(problems, err.Error())
					continue
				}
				want, err := ref.findings(ctx, r.profile, c)
				if err != nil {
					problems = append(problems, err.Error())
					continue
				}
				compared++
				if len(res.Failures) > 0 {
					failing++
				}
				if len(res.Warnings) > 0 {
					warned++
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					problems = append(problems, fmt.Sprintf("%s %s (params %s):\n  conftest: %v\n  hpguard:  %v", r.profile, c.Name, r.params, got, want))
				}
			}
		}()
	}
	wg.Wait()
	if len(problems) > 10 {
		problems = append(problems[:10], fmt.Sprintf("... and %d more", len(problems)-10))
	}
	require.Empty(t, problems, "conftest verdicts differ from hpguard")
	require.Equal(t, len(cases)*len(profs), compared)
	t.Logf("conftest %s: %d files x profiles compared in %d runs (%d failing, %d with warnings) in %s",
		conftestVersion, compared, len(runs), failing, warned, time.Since(start).Round(time.Millisecond))
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}
