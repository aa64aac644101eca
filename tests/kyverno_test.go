package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hpguard/hpguard/generator"
	"github.com/hpguard/hpguard/generator/spec"
	"github.com/hpguard/hpguard/internal/engine"
)

// The generated Kyverno policies (kyverno/) proven with the real Kyverno, built from its module at
// the version pinned in mk/kyverno.mk (`make kyverno-test` passes the CLI's path in KYVERNO, and
// kyverno-eval's, Kyverno's engine compiled once for many resources, in KYVERNO_EVAL):
//
//   - TestKyvernoApply: every golden case (with its parameters) and every document of the bypass
//     corpus, under every profile, through Kyverno's engine (kyverno-eval), and the bypass corpus
//     and a sample of the golden cases also through `kyverno apply` (which compiles every policy
//     again for each resource), with the profile's policies, against `hpguard check` (opa engine):
//     per document and rule, Kyverno fails the rule's policy exactly when hpguard has findings of
//     that rule, and its message is their messages joined as the policy's messageExpression joins
//     them. Documents go to Kyverno exactly as hpguard decoded them (written as JSON, renamed so
//     that each is unique: the CLI keys resources by kind, namespace and name and drops duplicates).
//   - TestKyvernoSuite: `kyverno test kyverno/tests` (the generated suite of the golden cases)
//     passes, with one result per case; and a suite with one expectation flipped fails.

// kyvernoEval returns kyverno-eval of KYVERNO_EVAL (built with the CLI by make kyverno).
func kyvernoEval(t *testing.T) string {
	t.Helper()
	env := os.Getenv("KYVERNO_EVAL")
	require.NotEmpty(t, env, "KYVERNO_EVAL: the path of kyverno-eval, built by make kyverno")
	p, err := filepath.Abs(env)
	require.NoError(t, err)
	st, err := os.Stat(p)
	require.NoError(t, err, "KYVERNO_EVAL: kyverno-eval, built by make kyverno")
	require.True(t, st.Mode().IsRegular(), "KYVERNO_EVAL: %s is not a file", p)
	return p
}

// kyvernoCLISample picks the documents `kyverno apply` also evaluates (it compiles every policy
// again for each document, about 0.6 s per document for the hostprocess and strict profiles): the
// bypass corpus, and of the golden cases without parameters, each rule's first allowed and first
// disallowed case.
func kyvernoCLISample(t *testing.T, docs []conftestDoc) map[string]bool {
	picked := map[string]bool{}
	for _, c := range loadCases(t) {
		k := fmt.Sprintf("%s %v", c.Rule, c.Allowed)
		if len(c.Params) == 0 && !picked[k] {
			picked[k] = true
			picked[c.File] = true
		}
	}
	out := map[string]bool{}
	for _, d := range docs {
		if d.batch.corpus == "bypass" || (d.batch.corpus == "golden" && len(d.batch.params) == 0 && picked[d.input.name]) {
			out[d.key] = true
		}
	}
	return out
}

// kyvernoCLI returns the Kyverno CLI of KYVERNO, or skips the test without it.
func kyvernoCLI(t *testing.T) string {
	t.Helper()
	p := os.Getenv("KYVERNO")
	if p == "" {
		t.Skip("the Kyverno CLI runs with `make kyverno-test` (KYVERNO=<path of the kyverno binary>)")
	}
	p, err := filepath.Abs(p)
	require.NoError(t, err)
	_, err = os.Stat(p)
	require.NoError(t, err, "KYVERNO")
	return p
}

func TestKyvernoApply(t *testing.T) {
	kyverno := kyvernoCLI(t)
	t.Parallel() // with TestKyvernoSuite: each leaves part of the two cores idle
	start := time.Now()
	bin := hpguardBin(t)
	pol, err := engine.LoadPolicy(policiesFS())
	require.NoError(t, err)
	s, err := spec.LoadDir(filepath.Join("..", "policies", "spec"))
	require.NoError(t, err)
	var profiles []string
	for _, p := range pol.Ruleset.Profiles {
		profiles = append(profiles, p.Name)
	}
	tmp := t.TempDir()
	batches := append(bypassBatches(t, profiles), goldenBatches(t, filepath.Join(tmp, "golden"), pol)...)
	for _, b := range batches {
		b.only = []string{"opa"}
	}
	runDiffBatches(bin, batches)
	st := &diffState{counts: map[string]*diffCounts{}, failOK: map[[2]string]bool{}}
	decoded := decodeDiffInputs(batches)
	var docs []conftestDoc
	for _, b := range batches {
		docs = append(docs, compareDiffBatch(st, b, decoded)...)
	}
	checked := time.Now()
	runDiffKyverno(t, st, s, kyverno, kyvernoEval(t), filepath.Join(tmp, "kyverno"), docs, kyvernoCLISample(t, docs))
	for _, pair := range sortedKeys(st.counts) {
		c := st.counts[pair]
		t.Logf("%s: %d documents x profiles, %d findings compared", pair, c.docs, c.findings)
	}
	t.Logf("wall time: hpguard %s, kyverno %s", checked.Sub(start).Round(time.Millisecond), time.Since(checked).Round(time.Millisecond))
	if n := len(st.problems); n > 0 {
		sort.Strings(st.problems)
		shown := st.problems
		if n > 40 {
			shown = append(shown[:40:40], fmt.Sprintf("... and %d more", n-40))
		}
		for _, p := range shown {
			if len(p) > 3000 {
				p = p[:3000] + " [...]"
			}
			t.Error(p)
		}
		t.Fatalf("%d disagreements between hpguard and Kyverno", n)
	}
}

// kyvernoReport is the part of the policy report `kyverno apply -p --output-format json` prints.
type kyvernoReport struct {
	Kind    string `json:"kind"`
	Results []struct {
		Policy    string `json:"policy"`
		Rule      string `json:"rule"`
		Result    string `json:"result"`
		Message   string `json:"message"`
		Resources []struct {
			Kind      string `json:"kind"`
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"resources"`
	} `json:"results"`
	Summary map[string]int `json:"summary"`
}

// kyvernoGroup is the documents of one profile and parameter set: one kyverno-eval invocation, and
// one `kyverno apply` of those in the CLI's sample.
type kyvernoGroup struct {
	profile   string
	params    engine.Params
	paramsKey string
	names     []string               // the documents' names in the invocation, in order
	byName    map[string]conftestDoc // by name
	keys      map[string]string      // document key -> name
}

// runDiffKyverno evaluates every checked workload document with Kyverno (see kyvernoGroup.run), one
// group per profile and parameter set, with the profile's policies of kyverno/profiles (default
// parameters) or policies generated with the set's parameters (generator.KyvernoPolicy, as the
// suite's are); cli holds the keys of the documents `kyverno apply` also evaluates.
func runDiffKyverno(t *testing.T, st *diffState, s *spec.Spec, kyverno, eval, dir string, docs []conftestDoc, cli map[string]bool) {
	require.NoError(t, os.MkdirAll(dir, 0o755))
	groups := map[string]*kyvernoGroup{}
	for _, d := range docs {
		gk := d.batch.profile + "\x00" + d.batch.paramsKey()
		g := groups[gk]
		if g == nil {
			g = &kyvernoGroup{profile: d.batch.profile, params: d.batch.params, paramsKey: d.batch.paramsKey(), byName: map[string]conftestDoc{}, keys: map[string]string{}}
			groups[gk] = g
		}
		if name, ok := g.keys[d.key]; ok {
			if lines := compareDocs(d.want.Desc, "opa", g.byName[name].want, "opa", d.want); len(lines) > 0 {
				st.problem("%s and %s: opa outcomes differ for the same document: %s", g.byName[name].input.name, d.input.name, strings.Join(lines, "; "))
			}
			continue
		}
		name := fmt.Sprintf("doc-%d", len(g.names))
		g.keys[d.key] = name
		g.names = append(g.names, name)
		g.byName[name] = d
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2)
	var mu sync.Mutex
	var total time.Duration
	invocations, documents := 0, 0
	for i, k := range sortedKeys(groups) {
		g := groups[k]
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			gdir := filepath.Join(dir, fmt.Sprintf("group-%d", i))
			elapsed, err := g.run(st, s, kyverno, eval, gdir, cli)
			if err != nil {
				st.problem("kyverno, profile %s, params %s: %v", g.profile, g.paramsKey, err)
			}
			mu.Lock()
			total += elapsed
			invocations++
			documents += len(g.names)
			mu.Unlock()
		}()
	}
	wg.Wait()
	t.Logf("kyverno apply: %d documents in %d invocations, %s of Kyverno time", documents, invocations, total.Round(time.Millisecond))
}

// kyvernoOutcome is Kyverno's result for one document and policy: pass or fail, and the message
// of a failure.
type kyvernoOutcome struct{ result, message string }

// run writes the group's documents and policies, evaluates every document with kyverno-eval and
// the CLI's sample (cli) with `kyverno apply`, and compares each with hpguard's findings.
func (g *kyvernoGroup) run(st *diffState, s *spec.Spec, kyverno, eval, dir string, cli map[string]bool) (time.Duration, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	write := func(file string, names []string) (string, error) {
		var buf bytes.Buffer
		for _, name := range names {
			obj, err := renamed(g.byName[name].obj, name)
			if err != nil {
				return "", fmt.Errorf("%s: %v", g.byName[name].input.name, err)
			}
			b, err := json.Marshal(obj)
			if err != nil {
				return "", err
			}
			buf.WriteString("---\n")
			buf.Write(b)
			buf.WriteString("\n")
		}
		p := filepath.Join(dir, file)
		return p, os.WriteFile(p, buf.Bytes(), 0o644)
	}
	resources, err := write("resources.yaml", g.names)
	if err != nil {
		return 0, err
	}
	var cliNames []string
	for _, name := range g.names {
		if cli[g.byName[name].key] {
			cliNames = append(cliNames, name)
		}
	}
	// The policies: the shipped ones, or the profile's policies with the group's parameters.
	policies, err := filepath.Abs(filepath.Join("..", generator.KyvernoDir, "profiles", g.profile))
	if err != nil {
		return 0, err
	}
	prof := s.ProfileByName(g.profile)
	if prof == nil {
		return 0, fmt.Errorf("no profile %s in the spec", g.profile)
	}
	severity := map[string]string{}
	for _, r := range s.Rules {
		if sev, ok := prof.Rules[r.ID]; ok {
			severity[generator.KyvernoPolicyName(r)] = string(sev)
		}
	}
	if len(g.params) > 0 {
		policies = filepath.Join(dir, "policies")
		if err := os.MkdirAll(policies, 0o755); err != nil {
			return 0, err
		}
		for _, r := range s.Rules {
			sev, ok := prof.Rules[r.ID]
			if !ok {
				continue
			}
			data, err := generator.KyvernoPolicy(s, r, g.profile, sev, g.params[r.ID])
			if err != nil {
				return 0, err
			}
			if err := os.WriteFile(filepath.Join(policies, r.ID+".yaml"), data, 0o644); err != nil {
				return 0, err
			}
		}
	}
	var elapsed time.Duration

	// Kyverno's engine, every document.
	start := time.Now()
	out, stderr, code, err := runTool(dir, "", eval, policies, "--resources", resources)
	elapsed += time.Since(start)
	if err != nil || code != 0 {
		return elapsed, fmt.Errorf("kyverno-eval: exit %d: %v\n%s", code, err, firstLines(stderr, 20))
	}
	got := map[string]map[string]kyvernoOutcome{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var r struct{ Resource, Policy, Result, Message string }
		if err := dec.Decode(&r); err == io.EOF {
			break
		} else if err != nil {
			return elapsed, fmt.Errorf("kyverno-eval output: %v", err)
		}
		g.record(st, "kyverno engine", got, r.Resource, r.Policy, kyvernoOutcome{r.Result, r.Message})
	}
	g.compare(st, "kyverno engine", g.names, severity, got)

	// The CLI, the sample.
	if len(cliNames) == 0 {
		return elapsed, nil
	}
	sample, err := write("cli-resources.yaml", cliNames)
	if err != nil {
		return elapsed, err
	}
	start = time.Now()
	out, stderr, code, err = runTool(dir, "", kyverno, "apply", policies, "--resource", sample, "--policy-report", "--output-format", "json", "--remove-color")
	elapsed += time.Since(start)
	if err != nil {
		return elapsed, fmt.Errorf("%v\n%s", err, firstLines(stderr, 20))
	}
	rep, err := readKyvernoReport(out)
	if err != nil {
		return elapsed, fmt.Errorf("kyverno apply: exit %d: %v\n%s\n%s", code, err, firstLines(string(out), 20), firstLines(stderr, 20))
	}
	got = map[string]map[string]kyvernoOutcome{}
	failing := false
	for _, r := range rep.Results {
		if len(r.Resources) != 1 {
			st.problem("kyverno apply, profile %s: a result of %s for %d resources", g.profile, r.Policy, len(r.Resources))
			continue
		}
		g.record(st, "kyverno apply", got, r.Resources[0].Name, r.Policy, kyvernoOutcome{r.Result, r.Message})
		failing = failing || r.Result == "fail"
	}
	g.compare(st, "kyverno apply", cliNames, severity, got)
	if wantCode := map[bool]int{false: 0, true: 1}[failing]; code != wantCode {
		st.problem("kyverno apply, profile %s, params %s: exit %d, want %d\n%s", g.profile, g.paramsKey, code, wantCode, firstLines(stderr, 10))
	}
	return elapsed, nil
}

// record keeps one result of Kyverno's; a second result for a document and policy is a problem.
func (g *kyvernoGroup) record(st *diffState, who string, got map[string]map[string]kyvernoOutcome, name, policy string, o kyvernoOutcome) {
	if got[name] == nil {
		got[name] = map[string]kyvernoOutcome{}
	}
	if _, dup := got[name][policy]; dup {
		st.problem("%s, profile %s: two results of %s for %s", who, g.profile, policy, name)
	}
	got[name][policy] = o
}

// compare checks Kyverno's results for the documents names against hpguard's findings: per
// document and policy of the profile, fail exactly when hpguard has findings of the policy's rule,
// with their messages joined as the policy's messageExpression joins them; pass otherwise.
func (g *kyvernoGroup) compare(st *diffState, who string, names []string, severity map[string]string, got map[string]map[string]kyvernoOutcome) {
	for _, name := range names {
		d := g.byName[name]
		label := fmt.Sprintf("%s (%s, %s input %s)", d.input.name, d.batch.label(), who, name)
		want := map[string][]string{}
		for _, f := range d.want.Findings {
			want[generator.KyvernoPolicyPrefix+f.Rule] = append(want[generator.KyvernoPolicyPrefix+f.Rule], f.Message)
		}
		st.count("opa vs "+who, 0, []diffDoc{d.want})
		for _, policy := range sortedKeys(severity) {
			o, ok := got[name][policy]
			msgs := want[policy]
			switch {
			case !ok:
				st.problem("%s: %s: no result of %s (hpguard: %d findings)", label, d.want.Desc, policy, len(msgs))
			case o.result == "fail" && len(msgs) == 0:
				st.problem("%s: %s: only %s: %s fails: %q", label, d.want.Desc, who, policy, o.message)
			case o.result == "pass" && len(msgs) > 0:
				st.problem("%s: %s: only hpguard: %s %q", label, d.want.Desc, policy, msgs)
			case o.result == "fail" && !sameMessages(o.message, msgs):
				st.problem("%s: %s: %s message\n      %s: %q\n      hpguard: %q", label, d.want.Desc, policy, who, o.message, msgs)
			case o.result != "pass" && o.result != "fail":
				st.problem("%s: %s: %s result %s: %q", label, d.want.Desc, policy, o.result, o.message)
			}
		}
		for policy := range want {
			if _, ok := severity[policy]; !ok {
				st.problem("%s: %s: hpguard reports %s, which is not a policy of the profile", label, d.want.Desc, policy)
			}
		}
		for policy := range got[name] {
			if _, ok := severity[policy]; !ok {
				st.problem("%s: %s: %s reports %s, which is not a policy of the profile", label, d.want.Desc, who, policy)
			}
		}
	}
}

// renamed returns a copy of a workload object named name.
func renamed(obj map[string]any, name string) (map[string]any, error) {
	out := make(map[string]any, len(obj))
	for k, v := range obj {
		out[k] = v
	}
	meta, ok := obj["metadata"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("metadata is %T, not an object", obj["metadata"])
	}
	m := make(map[string]any, len(meta))
	for k, v := range meta {
		m[k] = v
	}
	delete(m, "generateName")
	m["name"] = name
	out["metadata"] = m
	return out, nil
}

// readKyvernoReport reads the policy report from the output of `kyverno apply`, which prints lines
// of its own before it.
func readKyvernoReport(out []byte) (*kyvernoReport, error) {
	i := bytes.IndexByte(out, '{')
	if i < 0 {
		return nil, fmt.Errorf("no policy report in the output")
	}
	var rep kyvernoReport
	dec := json.NewDecoder(bytes.NewReader(out[i:]))
	if err := dec.Decode(&rep); err != nil {
		return nil, fmt.Errorf("policy report: %w", err)
	}
	if rep.Kind != "ClusterReport" && !strings.HasSuffix(rep.Kind, "PolicyReport") {
		return nil, fmt.Errorf("policy report of kind %q", rep.Kind)
	}
	return &rep, nil
}

var kyvernoSummaryRE = regexp.MustCompile(`Test Summary: (\d+) tests? passed and (\d+) tests? failed`)

// TestKyvernoSuite runs the generated suite kyverno/tests with `kyverno test`: every case passes,
// and there are as many results as golden cases of the rules in a profile. A copy of one rule's
// suite with one expectation flipped must fail, so that the suite is known to check.
func TestKyvernoSuite(t *testing.T) {
	kyverno := kyvernoCLI(t)
	t.Parallel()
	suite, err := filepath.Abs(filepath.Join("..", generator.KyvernoDir, "tests"))
	require.NoError(t, err)
	cases := loadCases(t)
	want := 0
	for _, c := range cases {
		if _, err := os.Stat(filepath.Join(suite, c.Rule)); err == nil {
			want++
		}
	}
	start := time.Now()
	out, stderr, code, err := runTool("", "", kyverno, "test", suite, "--remove-color")
	require.NoError(t, err)
	elapsed := time.Since(start)
	m := kyvernoSummaryRE.FindStringSubmatch(string(out))
	require.NotNil(t, m, "kyverno test printed no summary:\n%s\n%s", lastLines(string(out), 40), stderr)
	require.Equal(t, 0, code, "kyverno test failed:\n%s", lastLines(string(out), 60))
	require.Equal(t, "0", m[2], "failed tests")
	require.Equal(t, fmt.Sprint(want), m[1], "kyverno test: one passing result per golden case")
	t.Logf("kyverno test: %s results passed in %s", m[1], elapsed.Round(time.Millisecond))

	// A flipped expectation fails.
	rule := "hostprocess-disallowed"
	flipped := filepath.Join(t.TempDir(), "kyverno")
	require.NoError(t, os.CopyFS(flipped, os.DirFS(filepath.Join("..", generator.KyvernoDir))))
	testFile := filepath.Join(flipped, "tests", rule, "kyverno-test.yaml")
	b, err := os.ReadFile(testFile)
	require.NoError(t, err)
	require.Contains(t, string(b), "result: pass")
	require.NoError(t, os.WriteFile(testFile, bytes.Replace(b, []byte("result: pass"), []byte("result: fail"), 1), 0o644))
	out, _, code, err = runTool("", "", kyverno, "test", filepath.Join(flipped, "tests", rule), "--remove-color")
	require.NoError(t, err)
	m = kyvernoSummaryRE.FindStringSubmatch(string(out))
	require.NotNil(t, m, "kyverno test printed no summary:\n%s", lastLines(string(out), 40))
	require.NotEqual(t, 0, code, "a flipped expectation must fail the suite")
	require.NotEqual(t, "0", m[2], "a flipped expectation must fail")
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// sameMessages reports whether joined, a policy's message, is exactly the messages msgs joined with
// generator.CELMessageSeparator in some order (hpguard sorts findings by field; the policy lists
// them in container order). The messages themselves may hold the separator, so they are cut out of
// joined, longest first, before the separators are counted.
func sameMessages(joined string, msgs []string) bool {
	if len(msgs) == 0 {
		return false
	}
	sorted := slices.Clone(msgs)
	slices.SortFunc(sorted, func(a, b string) int { return len(b) - len(a) })
	rest := joined
	for _, m := range sorted {
		i := strings.Index(rest, m)
		if i < 0 {
			return false
		}
		rest = rest[:i] + "\x00" + rest[i+len(m):]
	}
	return rest == strings.Repeat("\x00"+generator.CELMessageSeparator, len(msgs)-1)+"\x00"
}
