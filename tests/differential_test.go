package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hpguard/hpguard/internal/check"
	"github.com/hpguard/hpguard/internal/engine"
	"github.com/hpguard/hpguard/internal/golden"
	"github.com/hpguard/hpguard/internal/manifest"
	"github.com/hpguard/hpguard/internal/report"
	"github.com/hpguard/hpguard/internal/workload"
)

// diffEngines are the hpguard engines compared; the first is the reference.
var diffEngines = []string{"opa", "gatekeeper", "gatekeeper-combined", "cel", "kyverno"}

// diffFailClosed lists, by input name and engine, the inputs on which an engine cannot give the
// reference engine's result by construction, with the cause. On those the engine must fail closed
// (failClosedViolations: every document it disagrees on is in error or has a deny finding, and the
// input fails the run) instead of agreeing:
//
//   - cel-cost/pod-2000-containers with the CEL engine: a HostProcess pod with 2,000 containers
//     (diffCELCostPod). The API server bounds the CEL cost of one policy evaluation
//     (RuntimeCELCostBudget), and the policies of the hostprocess and strict profiles that walk
//     every container exceed it: the CEL engine reports the document in error ("actual cost limit
//     exceeded", exit 2; the API server rejects the pod, failurePolicy Fail), where the other
//     engines report its findings (under hostprocess only warnings: exit 0). The kyverno engine
//     evaluates the Kyverno policies' CEL (the same expressions) with the same budget.
var diffFailClosed = map[[2]string]string{
	{"cel-cost/pod-2000-containers", "cel"}:     "CEL runtime cost budget exceeded on 2,000 containers",
	{"cel-cost/pod-2000-containers", "kyverno"}: "CEL runtime cost budget exceeded on 2,000 containers",
}

// diffCELCostPod writes a correctly configured HostProcess pod with n containers, each setting
// hostProcess and running as LocalSystem, without resource limits (warnings under hostprocess,
// denials under strict).
func diffCELCostPod(t *testing.T, dir string, n int) string {
	containers := make([]any, n)
	for i := range containers {
		containers[i] = map[string]any{"name": fmt.Sprintf("c%d", i), "image": "mcr.microsoft.com/oss/kubernetes/windows-host-process-containers-base-image:v1.0.0",
			"securityContext": map[string]any{"windowsOptions": map[string]any{"hostProcess": true, "runAsUserName": `NT AUTHORITY\SYSTEM`}}}
	}
	pod := map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": map[string]any{"name": "many-containers", "namespace": "kube-system"},
		"spec": map[string]any{"hostNetwork": true, "nodeSelector": map[string]any{"kubernetes.io/os": "windows"}, "containers": containers}}
	b, err := json.Marshal(pod)
	require.NoError(t, err)
	return writeFile(t, dir, fmt.Sprintf("pod-%d-containers.json", n), b)
}

// diffInput is one input file of a corpus.
type diffInput struct {
	name   string // for messages
	path   string // as passed to hpguard ("-" for standard input)
	file   string // as the report names it
	stdin  string
	limits manifest.Options
}

// diffBatch is a set of inputs checked by one invocation per engine under one profile.
type diffBatch struct {
	corpus  string
	profile string
	params  engine.Params // rule parameters (--params, conftest's --data); nil for none
	args    []string      // further flags (limits, --params)
	dirs    []string      // directories passed whole (their files are inputs too)
	inputs  []diffInput
	runs    map[string]*diffRun // by engine
	// only, when set, restricts the hpguard engines run on the batch (its first is the reference);
	// else diffEngines.
	only []string
}

// engines are the hpguard engines run on the batch; the first is the reference.
func (b *diffBatch) engines() []string {
	if len(b.only) > 0 {
		return b.only
	}
	return diffEngines
}

// paramsKey identifies the batch's parameter set.
func (b *diffBatch) paramsKey() string {
	if len(b.params) == 0 {
		return "{}"
	}
	k, _ := json.Marshal(b.params)
	return string(k)
}

func (b *diffBatch) label() string {
	s := b.corpus + ", profile " + b.profile
	if len(b.params) > 0 {
		s += ", params " + b.paramsKey()
	}
	return s
}

// diffRun is one engine's invocation of hpguard on a batch.
type diffRun struct {
	exit    int
	report  report.Report
	byFile  map[string][]report.Result
	problem string // why the run gave no usable report
	elapsed time.Duration
}

// decodedInput is an input as the shared reader decodes it (manifest.StreamFile, which splits a
// file as check.Run does): its documents, then the file error if any.
type decodedInput struct {
	docs    []manifest.Document
	fileErr error
}

// diffCounts counts what one engine pair compared.
type diffCounts struct {
	inputs, docs, findings int
}

// diffState collects the outcome of the whole comparison.
type diffState struct {
	mu       sync.Mutex
	problems []string
	counts   map[string]*diffCounts // by "a vs b"
	failOK   map[[2]string]bool     // diffFailClosed entries seen failing closed
}

func (s *diffState) problem(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.problems = append(s.problems, fmt.Sprintf(format, args...))
}

func (s *diffState) count(pair string, inputs int, docs []diffDoc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.counts[pair]
	if c == nil {
		c = &diffCounts{}
		s.counts[pair] = c
	}
	c.inputs += inputs
	c.docs += len(docs)
	for _, d := range docs {
		c.findings += len(d.Findings)
	}
}

// TestDifferential checks that every engine gives the same exit status and findings on every input.
//
// Inputs: the golden cases (tests/golden, with their rule parameters), every manifest of the bypass
// corpus (tests/bypass, walked at run time), the hostile inputs of hostileCases, the fuzz seeds
// (the `go test fuzz v1` files under internal/*/testdata/fuzz and the constant f.Add arguments of
// the fuzz targets) and the pod of diffFailClosed, on which the CEL engine must fail closed.
//
// Engines: `hpguard check -o json --engine opa|gatekeeper|cel` under every profile, each batch of
// inputs in one invocation per engine and profile; per input (file) and per document the status,
// the error text and the multiset of findings (rule, severity, field, container, message) must be
// those of the opa engine, and so must the input's exit status (the status `hpguard check` gives
// for that input alone, derived from its documents) and the invocation's. The documents are also
// read in-process with internal/manifest (the reader every engine shares): a document the reader
// refuses must be that same input error for every engine.
//
// conftest: the pinned conftest binary evaluates policies/rego (--namespace
// hpguard.profiles.<profile>) on every checked workload document exactly as hpguard decoded it
// (written as JSON; conftest's own YAML parser is not what is compared), one invocation per profile
// and parameter set: its failures must be the opa engine's deny findings and its warnings the warn
// findings. Input errors never reach conftest.
//
// Without HPGUARD_CONSUMERS=1 (`make test-differential` sets it) only the bypass corpus and the
// fuzz seeds go through the three hpguard engines (about 15 s); the hostile inputs (600 MB of
// files to write and read), the golden cases and conftest need the gate.
func TestDifferential(t *testing.T) {
	full := os.Getenv("HPGUARD_CONSUMERS") != ""
	start := time.Now()
	bin := hpguardBin(t)
	pol, err := engine.LoadPolicy(policiesFS())
	require.NoError(t, err)
	var profiles []string
	for _, p := range pol.Ruleset.Profiles {
		profiles = append(profiles, p.Name)
	}
	tmp := t.TempDir()

	var batches []*diffBatch
	batches = append(batches, bypassBatches(t, profiles)...)
	batches = append(batches, fuzzBatches(t, filepath.Join(tmp, "fuzz"), profiles)...)
	if full {
		batches = append(batches, hostileBatches(t, filepath.Join(tmp, "hostile"), profiles)...)
		batches = append(batches, goldenBatches(t, filepath.Join(tmp, "golden"), pol)...)
	} else {
		t.Log("hostile inputs, golden cases and conftest skipped: they run with HPGUARD_CONSUMERS=1 (make test-differential)")
	}
	inputsWritten := time.Now()

	runDiffBatches(bin, batches)
	ran := time.Now()

	st := &diffState{counts: map[string]*diffCounts{}, failOK: map[[2]string]bool{}}
	decoded := decodeDiffInputs(batches)
	var conftestDocs []conftestDoc
	for _, b := range batches {
		conftestDocs = append(conftestDocs, compareDiffBatch(st, b, decoded)...)
	}
	if full {
		runDiffConftest(t, st, filepath.Join(tmp, "conftest"), conftestDocs)
	}

	corpora := map[string]map[string]bool{}
	names := map[string]bool{}
	documents := map[string]int{}
	for _, b := range batches {
		if corpora[b.corpus] == nil {
			corpora[b.corpus] = map[string]bool{}
		}
		for _, in := range b.inputs {
			corpora[b.corpus][in.name] = true
			names[in.name] = true
			if b.profile == profiles[0] {
				documents[b.corpus] += len(b.runs[diffEngines[0]].byFile[in.file])
			}
		}
	}
	var summary []string
	for _, c := range sortedKeys(corpora) {
		summary = append(summary, fmt.Sprintf("%s %d inputs (%d documents)", c, len(corpora[c]), documents[c]))
	}
	t.Logf("corpora: %s; %d profiles; %d batches", strings.Join(summary, ", "), len(profiles), len(batches))
	for _, pair := range sortedKeys(st.counts) {
		c := st.counts[pair]
		if c.inputs == 0 {
			t.Logf("%s: %d documents x profiles, %d findings compared", pair, c.docs, c.findings)
			continue
		}
		t.Logf("%s: %d inputs x profiles, %d documents, %d findings compared", pair, c.inputs, c.docs, c.findings)
	}
	for k, cause := range diffFailClosed {
		if !names[k[0]] {
			continue
		}
		if st.failOK[k] {
			t.Logf("fails closed as expected: %s with %s (%s)", k[0], k[1], cause)
		} else {
			t.Logf("no longer needed? %s with %s agrees with %s everywhere (%s)", k[0], k[1], diffEngines[0], cause)
		}
	}
	logDiffTimes(t, batches)
	t.Logf("wall time: binary and inputs %s, engines %s, comparison and conftest %s",
		inputsWritten.Sub(start).Round(time.Millisecond), ran.Sub(inputsWritten).Round(time.Millisecond), time.Since(ran).Round(time.Millisecond))

	if n := len(st.problems); n > 0 {
		sort.Strings(st.problems)
		shown := st.problems
		if n > 40 {
			shown = append(shown[:40:40], fmt.Sprintf("... and %d more", n-40))
		}
		require.Fail(t, fmt.Sprintf("%d disagreements between engines", n), strings.Join(shown, "\n\n"))
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// logDiffTimes logs the time each engine spent per corpus (summed over invocations).
func logDiffTimes(t *testing.T, batches []*diffBatch) {
	spent := map[string]time.Duration{}
	runs := map[string]int{}
	for _, b := range batches {
		for e, r := range b.runs {
			spent[b.corpus+"/"+e] += r.elapsed
			runs[b.corpus+"/"+e]++
		}
	}
	var parts []string
	for _, k := range sortedKeys(spent) {
		parts = append(parts, fmt.Sprintf("%s %s (%d runs)", k, spent[k].Round(time.Millisecond), runs[k]))
	}
	t.Logf("engine time: %s", strings.Join(parts, ", "))
}

// bypassBatches checks the directory tests/bypass as a whole (so that every file added to it is
// an input); its inputs are the files the walk finds with the extensions hpguard reads.
func bypassBatches(t *testing.T, profiles []string) []*diffBatch {
	var inputs []diffInput
	require.NoError(t, filepath.WalkDir("bypass", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		switch filepath.Ext(p) {
		case ".yaml", ".yml", ".json":
			inputs = append(inputs, diffInput{name: filepath.ToSlash(p), path: p, file: p, limits: manifest.DefaultOptions()})
		}
		return nil
	}))
	require.NotEmpty(t, inputs)
	var out []*diffBatch
	for _, p := range profiles {
		out = append(out, &diffBatch{corpus: "bypass", profile: p, dirs: []string{"bypass"}, inputs: inputs})
	}
	return out
}

// hostileBatches writes every case of hostileCases once and checks them, one batch per set of
// limit flags; the pod of diffFailClosed joins them.
func hostileBatches(t *testing.T, dir string, profiles []string) []*diffBatch {
	groups := map[string][]diffInput{}
	flags := map[string][]string{}
	for _, c := range hostileCases() {
		d := filepath.Join(dir, c.name)
		require.NoError(t, os.MkdirAll(d, 0o755))
		path := c.write(t, d)
		file := path
		if path == "-" {
			file = "<stdin>"
		}
		key := strings.Join(c.args, " ")
		for _, in := range groups[key] {
			require.False(t, path == "-" && in.path == "-", "two hostile cases on standard input with the same flags")
		}
		groups[key] = append(groups[key], diffInput{name: "hostile/" + c.name, path: path, file: file, stdin: c.stdin, limits: limitsFor(c.args)})
		flags[key] = c.args
	}
	p := diffCELCostPod(t, dir, 2000)
	groups[""] = append(groups[""], diffInput{name: "cel-cost/pod-2000-containers", path: p, file: p, limits: manifest.DefaultOptions()})
	var out []*diffBatch
	for _, k := range sortedKeys(groups) {
		for _, p := range profiles {
			out = append(out, &diffBatch{corpus: "hostile", profile: p, args: flags[k], inputs: groups[k]})
		}
	}
	return out
}

// fuzzBatches writes every fuzz seed (see fuzzSeeds) as a file.
func fuzzBatches(t *testing.T, dir string, profiles []string) []*diffBatch {
	pkgs, err := filepath.Glob(filepath.Join("..", "internal", "*"))
	require.NoError(t, err)
	var inputs []diffInput
	seen := map[string]bool{}
	targets := map[string]bool{}
	for _, pkg := range pkgs {
		seeds, computed := fuzzSeeds(t, pkg)
		for _, c := range computed {
			t.Logf("fuzz seeds: %s is computed at run time, not included", c)
		}
		for _, s := range seeds {
			targets[s.target] = true
			if seen[string(s.data)] {
				continue
			}
			seen[string(s.data)] = true
			d := filepath.Join(dir, s.target)
			require.NoError(t, os.MkdirAll(d, 0o755))
			p := writeFile(t, d, s.name+".yaml", s.data)
			inputs = append(inputs, diffInput{name: "fuzz/" + s.target + "/" + s.name, path: p, file: p, limits: manifest.DefaultOptions()})
		}
	}
	require.True(t, targets["FuzzReadBytes"] && targets["FuzzEvaluate"], "fuzz seeds of FuzzReadBytes and FuzzEvaluate (found %v)", targets)
	var out []*diffBatch
	for _, p := range profiles {
		out = append(out, &diffBatch{corpus: "fuzz", profile: p, inputs: inputs})
	}
	return out
}

// goldenBatches checks every golden case under every profile. A case's rule parameters apply under
// the profiles that have its rule; elsewhere the case joins the profile's batch without
// parameters. The cases with parameters are batched in layers, to start each engine fewer times
// (the CEL engine takes about 2 s to start): layer i holds the i-th parameter set of every rule of
// the profile (sets[rule], in order of first use; members[rule][set] are its cases), so a case meets
// its own rule's parameters and, for other rules, parameters of other golden cases (every engine
// gets the same).
func goldenBatches(t *testing.T, dir string, pol *engine.Policy) []*diffBatch {
	require.NoError(t, os.MkdirAll(dir, 0o755))
	cases := loadCases(t)
	var out []*diffBatch
	for _, prof := range pol.Ruleset.Profiles {
		plain := &diffBatch{corpus: "golden", profile: prof.Name}
		sets := map[string][]string{}
		members := map[string]map[string][]golden.Case{}
		for _, c := range cases {
			if _, ok := prof.Rules[c.Rule]; !ok || len(c.Params) == 0 {
				plain.addGolden(c)
				continue
			}
			k, err := json.Marshal(c.Params)
			require.NoError(t, err)
			if members[c.Rule] == nil {
				members[c.Rule] = map[string][]golden.Case{}
			}
			if members[c.Rule][string(k)] == nil {
				sets[c.Rule] = append(sets[c.Rule], string(k))
			}
			members[c.Rule][string(k)] = append(members[c.Rule][string(k)], c)
		}
		out = append(out, plain)
		for i := 0; ; i++ {
			layer := &diffBatch{corpus: "golden", profile: prof.Name, params: engine.Params{}}
			for _, rule := range sortedKeys(sets) {
				if i >= len(sets[rule]) {
					continue
				}
				var ps map[string]any
				require.NoError(t, json.Unmarshal([]byte(sets[rule][i]), &ps))
				layer.params[rule] = ps
				for _, c := range members[rule][sets[rule][i]] {
					layer.addGolden(c)
				}
			}
			if len(layer.params) == 0 {
				break
			}
			f := filepath.Join(dir, fmt.Sprintf("params-%s-%d.json", prof.Name, i))
			require.NoError(t, os.WriteFile(f, []byte(layer.paramsKey()), 0o644))
			layer.args = []string{"--params", f}
			out = append(out, layer)
		}
	}
	return out
}

// addGolden adds a golden case's file to the batch, once.
func (b *diffBatch) addGolden(c golden.Case) {
	path := filepath.Join("..", filepath.FromSlash(c.File))
	for _, in := range b.inputs {
		if in.path == path {
			return
		}
	}
	b.inputs = append(b.inputs, diffInput{name: c.File, path: path, file: path, limits: manifest.DefaultOptions()})
}

// runDiffBatches runs every engine on every batch, two invocations at a time.
func runDiffBatches(bin string, batches []*diffBatch) {
	type job struct {
		b      *diffBatch
		engine string
	}
	var jobs []job
	for _, b := range batches {
		b.runs = map[string]*diffRun{}
		for _, e := range b.engines() {
			b.runs[e] = &diffRun{}
			jobs = append(jobs, job{b, e})
		}
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2)
	for _, j := range jobs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			runDiffEngine(bin, j.b, j.engine, j.b.runs[j.engine])
		}()
	}
	wg.Wait()
}

// runDiffEngine runs one engine on one batch and indexes the report's results by file.
func runDiffEngine(bin string, b *diffBatch, eng string, r *diffRun) {
	args := append([]string{"check", "-o", "json", "-q", "--profile", b.profile, "--engine", eng}, b.args...)
	stdin := ""
	args = append(args, b.dirs...)
	inDirs := func(p string) bool {
		for _, d := range b.dirs {
			if strings.HasPrefix(p, d+string(filepath.Separator)) {
				return true
			}
		}
		return false
	}
	for _, in := range b.inputs {
		if in.path == "-" {
			stdin = in.stdin
		}
		if !inDirs(in.path) {
			args = append(args, in.path)
		}
	}
	start := time.Now()
	out, stderr, code, err := runTool("", stdin, bin, args...)
	r.elapsed, r.exit = time.Since(start), code
	switch {
	case err != nil:
		r.problem = fmt.Sprintf("%s: %v\n%s", eng, err, firstLines(stderr, 10))
		return
	case code > 2 || strings.Contains(stderr, "panic"):
		r.problem = fmt.Sprintf("%s: exit %d\n%s", eng, code, firstLines(stderr, 10))
		return
	}
	if err := json.Unmarshal(out, &r.report); err != nil {
		r.problem = fmt.Sprintf("%s: exit %d, no JSON report: %v\n%s", eng, code, err, firstLines(stderr, 10))
		return
	}
	r.byFile = map[string][]report.Result{}
	for _, res := range r.report.Results {
		r.byFile[res.File] = append(r.byFile[res.File], res)
	}
}

// runTool runs a program in dir and returns its stdout, stderr and exit status; err is for a program
// that could not run or did not exit by itself.
func runTool(dir, stdin, name string, args ...string) ([]byte, string, int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return stdout.Bytes(), stderr.String(), 0, nil
	case errors.As(err, &ee) && ee.Exited():
		return stdout.Bytes(), stderr.String(), ee.ExitCode(), nil
	}
	return stdout.Bytes(), stderr.String(), -1, err
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}

// decodeDiffInputs reads every input once with the shared reader, with the input's limits.
func decodeDiffInputs(batches []*diffBatch) map[string]*decodedInput {
	out := map[string]*decodedInput{}
	for _, b := range batches {
		for _, in := range b.inputs {
			key := decodedKey(in)
			if out[key] != nil {
				continue
			}
			d := &decodedInput{}
			var stdin io.Reader
			if in.path == "-" {
				stdin = strings.NewReader(in.stdin)
			}
			d.fileErr = manifest.StreamFile(in.path, stdin, in.limits, func(doc manifest.Document) { d.docs = append(d.docs, doc) })
			out[key] = d
		}
	}
	return out
}

func decodedKey(in diffInput) string {
	return fmt.Sprintf("%s\x00%s\x00%+v", in.path, in.stdin, in.limits)
}

// conftestDoc is a checked workload document to evaluate with conftest, with the opa engine's
// outcome for it.
type conftestDoc struct {
	batch *diffBatch
	input diffInput
	key   string // the input and the document's position in it
	obj   map[string]any
	want  diffDoc
}

// compareDiffBatch compares the engines on one batch and returns the documents for conftest. Every
// file an engine reports must be an input, and each invocation's exit status must be the one its
// results give and the reference engine's.
// An input whose documents the reference engine does not report one for one (see checkReader)
// gives conftest nothing.
func compareDiffBatch(st *diffState, b *diffBatch, decoded map[string]*decodedInput) []conftestDoc {
	ref := b.engines()[0]
	for _, e := range b.engines() {
		if r := b.runs[e]; r.problem != "" {
			st.problem("%s: %s", b.label(), r.problem)
			return nil
		}
	}
	known := map[string]bool{}
	for _, in := range b.inputs {
		known[in.file] = true
	}
	for _, e := range b.engines() {
		r := b.runs[e]
		for f := range r.byFile {
			if !known[f] {
				st.problem("%s: %s reports %s, which is not an input of the batch", b.label(), e, f)
			}
		}
		if want := check.ExitCode(&r.report, report.SeverityDeny); r.exit != want {
			st.problem("%s: %s exits %d but its report gives %d", b.label(), e, r.exit, want)
		}
		if r.exit != b.runs[ref].exit {
			st.problem("%s: exit status of the invocation: %s %d, %s %d", b.label(), ref, b.runs[ref].exit, e, r.exit)
		}
	}
	var docs []conftestDoc
	for _, in := range b.inputs {
		dec := decoded[decodedKey(in)]
		outcomes := map[string]diffOutcome{}
		for _, e := range b.engines() {
			results := b.runs[e].byFile[in.file]
			checkReader(st, b, in, e, dec, results)
			outcomes[e] = diffOutcomeOf(results)
		}
		want := outcomes[ref]
		for _, e := range b.engines()[1:] {
			got := outcomes[e]
			pair := ref + " vs " + e
			st.count(pair, 1, want.Docs)
			lines := compareOutcomes(ref, want, e, got)
			if len(lines) == 0 {
				continue
			}
			key := [2]string{in.name, e}
			if _, ok := diffFailClosed[key]; ok {
				if v := failClosedViolations(want, got); len(v) > 0 {
					st.problem("%s\n    and it does not fail closed:\n    %s", formatDisagreement(in.name, b.label(), ref, e, lines), strings.Join(v, "\n    "))
				} else {
					st.mu.Lock()
					st.failOK[key] = true
					st.mu.Unlock()
				}
				continue
			}
			st.problem("%s", formatDisagreement(in.name, b.label(), ref, e, lines))
		}
		if len(want.Docs) != len(dec.docs) {
			continue
		}
		for i, d := range dec.docs {
			if d.Err == nil && want.Docs[i].Status == report.StatusChecked && workload.IsWorkload(d.APIVersion(), d.Kind()) {
				docs = append(docs, conftestDoc{batch: b, input: in, key: fmt.Sprintf("%s\x00%d", decodedKey(in), i), obj: d.Object, want: want.Docs[i]})
			}
		}
	}
	return docs
}

// checkReader checks an engine's results for one input against the shared reader: one result per
// document (and one for a file error), in order, and a document the reader refuses is that input
// error. A document the reader accepts may still be in error for an engine (an evaluation error),
// which the comparison between engines reports.
func checkReader(st *diffState, b *diffBatch, in diffInput, eng string, dec *decodedInput, results []report.Result) {
	n := len(dec.docs)
	if dec.fileErr != nil {
		n++
	}
	if len(results) != n {
		st.problem("%s (%s): %s reports %d documents, the reader reads %d (file error: %v)", in.name, b.label(), eng, len(results), len(dec.docs), dec.fileErr)
		return
	}
	for i, d := range dec.docs {
		r := results[i]
		switch {
		case d.Err != nil && (r.Status != report.StatusError || r.Error != d.Err.Error()):
			st.problem("%s (%s): %s: %s %s %q, the reader refuses it: %v", in.name, b.label(), describeResult(r), eng, r.Status, r.Error, d.Err)
		case d.Err == nil && r.Status == report.StatusError && !workload.IsWorkload(d.APIVersion(), d.Kind()):
			st.problem("%s (%s): %s: %s error %q for a document the reader accepts and that is not a workload", in.name, b.label(), describeResult(r), eng, r.Error)
		case d.Err == nil && (r.Kind != d.Kind() || r.Name != d.Name()):
			st.problem("%s (%s): %s: %s reports %s %s, the reader reads %s %s", in.name, b.label(), describeResult(r), eng, r.Kind, r.Name, d.Kind(), d.Name())
		}
	}
	if dec.fileErr != nil {
		if r := results[n-1]; r.Status != report.StatusError || r.Error != dec.fileErr.Error() {
			st.problem("%s (%s): %s: last result %s %q, the reader's file error is %v", in.name, b.label(), eng, r.Status, r.Error, dec.fileErr)
		}
	}
}
