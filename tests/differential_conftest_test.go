package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hpguard/hpguard/internal/report"
)

// diffConftestResult is one entry of `conftest test -o json`: a deny/warn object's msg is the
// result's msg, its other keys (rule, severity, field, container) the metadata, to which conftest
// adds the query.
type diffConftestResult struct {
	Filename  string `json:"filename"`
	Namespace string `json:"namespace"`
	Failures  []struct {
		Msg      string         `json:"msg"`
		Metadata map[string]any `json:"metadata"`
	} `json:"failures"`
	Warnings []struct {
		Msg      string         `json:"msg"`
		Metadata map[string]any `json:"metadata"`
	} `json:"warnings"`
}

// findings converts the result; a metadata key other than the finding's fields and the query, or a
// query or severity that does not match, is an error. A value that is not a string (which hpguard's
// engines cannot report as such) is kept in its JSON form, marked.
func (r diffConftestResult) findings(profile string) ([]diffFinding, error) {
	var out []diffFinding
	add := func(kind, msg string, md map[string]any) error {
		f := diffFinding{Message: msg}
		for k, v := range md {
			s, ok := v.(string)
			if !ok {
				b, _ := json.Marshal(v)
				s = "(not a string) " + string(b)
			}
			switch k {
			case "query":
				if want := "data.hpguard.profiles." + strings.ReplaceAll(profile, "-", "_") + "." + kind; s != want {
					return fmt.Errorf("result of query %s, want %s", s, want)
				}
			case "rule":
				f.Rule = s
			case "severity":
				f.Severity = s
			case "field":
				f.Field = s
			case "container":
				f.Container = s
			default:
				return fmt.Errorf("unexpected metadata key %q", k)
			}
		}
		if f.Severity != kind {
			return fmt.Errorf("%s result with severity %q", kind, f.Severity)
		}
		out = append(out, f)
		return nil
	}
	for _, f := range r.Failures {
		if err := add(report.SeverityDeny, f.Msg, f.Metadata); err != nil {
			return nil, err
		}
	}
	for _, w := range r.Warnings {
		if err := add(report.SeverityWarn, w.Msg, w.Metadata); err != nil {
			return nil, err
		}
	}
	sortDiffFindings(out)
	return out, nil
}

// conftestBin returns the pinned conftest in .bin/, building it with make when it is missing.
func conftestBin(t *testing.T) string { return pinnedTool(t, "conftest", "conftest") }

// conftestGroup is one conftest invocation: the documents of one profile and parameter set.
type conftestGroup struct {
	profile, paramsKey string
	files              []string
	byFile             map[string]conftestDoc
}

// runDiffConftest evaluates every checked workload document with conftest and policies/rego, one
// invocation per profile and parameter set, each document written once as JSON exactly as hpguard
// decoded it; per document, conftest's failures must be the opa engine's deny findings and its
// warnings the warn findings, and conftest's exit status 1 exactly when one document has a failure.
// A document met twice under one profile and parameter set (a golden file of two cases) is given
// to conftest once, and the opa engine's outcomes for it must agree.
func runDiffConftest(t *testing.T, st *diffState, dir string, docs []conftestDoc) {
	conftest := conftestBin(t)
	policy, err := filepath.Abs(filepath.Join("..", "policies", "rego"))
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(dir, 0o755))
	written := map[string]string{}
	groups := map[string]*conftestGroup{}
	for _, d := range docs {
		name := written[d.key]
		if name == "" {
			name = fmt.Sprintf("doc-%d.json", len(written))
			b, err := json.Marshal(d.obj)
			require.NoError(t, err, d.input.name)
			require.NoError(t, os.WriteFile(filepath.Join(dir, name), b, 0o644))
			written[d.key] = name
		}
		gk := d.batch.profile + "\x00" + d.batch.paramsKey()
		g := groups[gk]
		if g == nil {
			g = &conftestGroup{profile: d.batch.profile, paramsKey: d.batch.paramsKey(), byFile: map[string]conftestDoc{}}
			groups[gk] = g
		}
		if prev, ok := g.byFile[name]; ok {
			if lines := compareDocs(d.want.Desc, "opa", prev.want, "opa", d.want); len(lines) > 0 {
				st.problem("%s and %s: opa outcomes differ for the same document: %s", prev.input.name, d.input.name, strings.Join(lines, "; "))
			}
			continue
		}
		g.files = append(g.files, name)
		g.byFile[name] = d
	}

	var wg sync.WaitGroup
	sem := make(chan struct{}, 2)
	for i, k := range sortedKeys(groups) {
		g := groups[k]
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			args := []string{"test", "--no-color", "-o", "json", "--policy", policy,
				"--namespace", "hpguard.profiles." + strings.ReplaceAll(g.profile, "-", "_")}
			if g.paramsKey != "{}" {
				f := filepath.Join(dir, fmt.Sprintf("data-%d.json", i))
				if err := os.WriteFile(f, []byte(`{"hpguard": {"params": `+g.paramsKey+`}}`), 0o644); err != nil {
					st.problem("conftest data: %v", err)
					return
				}
				args = append(args, "--data", f)
			}
			args = append(args, g.files...)
			out, stderr, code, err := runTool(dir, "", conftest, args...)
			label := fmt.Sprintf("conftest, profile %s, params %s", g.profile, g.paramsKey)
			var results []diffConftestResult
			if err == nil {
				err = json.Unmarshal(out, &results)
			}
			if err != nil || len(results) != len(g.files) {
				st.problem("%s: exit %d, %d results for %d documents: %v\n%s", label, code, len(results), len(g.files), err, firstLines(stderr, 10))
				return
			}
			failing := false
			for _, res := range results {
				d, ok := g.byFile[res.Filename]
				if !ok {
					st.problem("%s: unexpected result for %s", label, res.Filename)
					continue
				}
				got, err := res.findings(g.profile)
				if err != nil {
					st.problem("%s: %s %s: %v", label, d.input.name, d.want.Desc, err)
					continue
				}
				failing = failing || len(res.Failures) > 0
				st.count("opa vs conftest", 0, []diffDoc{d.want})
				if lines := compareDocs(d.want.Desc, "opa", d.want, "conftest", diffDoc{Desc: d.want.Desc, Status: report.StatusChecked, Findings: got}); len(lines) > 0 {
					st.problem("%s", formatDisagreement(d.input.name, d.batch.label()+", conftest input "+res.Filename, "opa", "conftest", lines))
				}
			}
			if want := map[bool]int{false: 0, true: 1}[failing]; code != want {
				st.problem("%s: exit %d, want %d\n%s", label, code, want, firstLines(stderr, 10))
			}
		}()
	}
	wg.Wait()
	t.Logf("conftest: %d documents in %d invocations", len(written), len(groups))
}
