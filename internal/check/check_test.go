package check

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/text/encoding/unicode"

	"github.com/hpguard/hpguard/internal/engine"
	"github.com/hpguard/hpguard/internal/manifest"
	"github.com/hpguard/hpguard/internal/report"
	"github.com/hpguard/hpguard/policies"
)

// jitter wraps an evaluator with a random delay per call, so that workers finish out of order.
type jitter struct {
	ev    engine.Evaluator
	seed  uint64
	calls atomic.Int64
}

func (j *jitter) Evaluate(ctx context.Context, obj map[string]any) ([]report.Finding, error) {
	n := j.calls.Add(1)
	r := rand.New(rand.NewPCG(j.seed, uint64(n)))
	time.Sleep(time.Duration(r.IntN(300)) * time.Microsecond)
	return j.ev.Evaluate(ctx, obj)
}

// failing fails on objects whose name hashes to 0 mod 7 (an evaluation error is a result too).
type failing struct{ ev engine.Evaluator }

func (f failing) Evaluate(ctx context.Context, obj map[string]any) ([]report.Finding, error) {
	m, _ := obj["metadata"].(map[string]any)
	name, _ := m["name"].(string)
	h := fnv.New32a()
	_, _ = h.Write([]byte(name))
	if h.Sum32()%7 == 0 {
		return nil, errors.New("injected evaluation error for " + name)
	}
	return f.ev.Evaluate(ctx, obj)
}

// concurrencyPaths mix workloads, other kinds, Lists, multi-document files and input errors.
var concurrencyPaths = []string{"../../tests/golden/hostprocess-all-containers", "../../tests/golden/field-types", "../../tests/bypass",
	"../../examples", "../../tests/conformance", "../../cmd/hpguard/testdata/check"}

// TestWorkersSameReport checks that a run gives the same report, in order and content, with 1
// worker and with many (run it with -race).
func TestWorkersSameReport(t *testing.T) {
	ctx := context.Background()
	p, err := engine.LoadPolicy(policies.Rego())
	if err != nil {
		t.Fatal(err)
	}
	profiles := []string{"hostprocess", "strict"}
	if testing.Short() { // the -race run in mk/oracle.mk
		profiles = profiles[:1]
	}
	for _, profile := range profiles {
		opa, err := engine.NewOPA(ctx, p, profile, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, wrap := range []struct {
			name string
			ev   func(seed uint64) engine.Evaluator
		}{
			{"plain", func(uint64) engine.Evaluator { return opa }},
			{"jitter", func(seed uint64) engine.Evaluator { return &jitter{ev: opa, seed: seed} }},
			{"errors", func(seed uint64) engine.Evaluator { return failing{&jitter{ev: opa, seed: seed}} }},
		} {
			t.Run(profile+"/"+wrap.name, func(t *testing.T) {
				if testing.Short() && wrap.name != "errors" {
					t.Skip("short: the errors variant (jitter and injected errors) only")
				}
				run := func(workers int, seed uint64) *report.Report {
					var progress atomic.Int64
					rep, err := Run(ctx, Options{Paths: concurrencyPaths, Evaluator: wrap.ev(seed), Profile: profile, Workers: workers,
						Limits: manifest.DefaultOptions(), Progress: func(int) { progress.Add(1) }})
					if err != nil {
						t.Fatal(err)
					}
					if int(progress.Load()) != rep.Summary.Checked {
						t.Fatalf("workers %d: progress called %d times for %d checked documents", workers, progress.Load(), rep.Summary.Checked)
					}
					return rep
				}
				want := run(1, 1)
				if want.Summary.Checked < 100 || want.Summary.Errors == 0 || want.Summary.Skipped == 0 {
					t.Fatalf("only %d checked documents: the inputs moved?", want.Summary.Checked)
				}
				for i, workers := range []int{3, 16} {
					got := run(workers, uint64(i+2))
					if !reflect.DeepEqual(want, got) {
						for k := range min(len(want.Results), len(got.Results)) {
							if !reflect.DeepEqual(want.Results[k], got.Results[k]) {
								t.Fatalf("workers %d: result %d differs:\n 1 worker: %+v\n %d workers: %+v", workers, k, want.Results[k], workers, got.Results[k])
							}
						}
						t.Fatalf("workers %d: reports differ (%d vs %d results; summary %+v vs %+v)", workers, len(want.Results), len(got.Results), want.Summary, got.Summary)
					}
				}
				t.Logf("%d documents (%d checked, %d findings): same report with 1, 3 and 16 workers", want.Summary.Documents, want.Summary.Checked, want.Summary.Deny+want.Summary.Warn)
			})
		}
	}
}

// TestCancelledRun checks that a cancelled context ends a run with the context's error, without
// hanging or racing, whatever the number of workers.
func TestCancelledRun(t *testing.T) {
	p, err := engine.LoadPolicy(policies.Rego())
	if err != nil {
		t.Fatal(err)
	}
	opa, err := engine.NewOPA(context.Background(), p, "hostprocess", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, workers := range []int{1, 4} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
		rep, err := Run(ctx, Options{Paths: concurrencyPaths, Evaluator: &jitter{ev: opa, seed: 9}, Workers: workers})
		cancel()
		if err == nil && rep == nil {
			t.Fatalf("workers %d: no report and no error", workers)
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("workers %d: %v", workers, err)
		}
	}
}

// TestRunInputs: each argument is read on its own, links are followed, the encodings kubectl reads
// give the same report, and a run that finds nothing to check is an error unless AllowEmpty.
func TestRunInputs(t *testing.T) {
	ctx := context.Background()
	p, err := engine.LoadPolicy(policies.Rego())
	require.NoError(t, err)
	opa, err := engine.NewOPA(ctx, p, "hostprocess", nil)
	require.NoError(t, err)
	const pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    image: i\n" +
		"    securityContext: {windowsOptions: {hostProcess: true}}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: s}\n"
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o700))
		require.NoError(t, os.WriteFile(path, data, 0o600))
		return path
	}
	utf16 := func(e unicode.Endianness) []byte {
		b, err := unicode.UTF16(e, unicode.UseBOM).NewEncoder().Bytes([]byte(pod))
		require.NoError(t, err)
		return b
	}
	good := write("good/pod.yaml", []byte(pod))
	le := write("le.yaml", utf16(unicode.LittleEndian))
	be := write("be.yaml", utf16(unicode.BigEndian))
	big := write("big.json", []byte(`{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},`+"\n"+`"spec": {"replicas": 1e400}}`))
	empty := filepath.Join(dir, "empty")
	require.NoError(t, os.Mkdir(empty, 0o700))
	write("empty/notes.txt", []byte("not a manifest"))
	comments := write("comments.yaml", []byte("# nothing here\n---\n"))
	link := filepath.Join(dir, "link")
	require.NoError(t, os.Symlink(filepath.Join(dir, "good"), link))
	require.NoError(t, os.Symlink("..", filepath.Join(dir, "good", "up")))
	missing := filepath.Join(dir, "missing.yaml")

	// row renders a result: "file status [line] error-or-findings".
	row := func(r report.Result) string {
		s := strings.TrimPrefix(r.File, dir+string(filepath.Separator)) + " " + string(r.Status)
		if r.Error != "" {
			s += fmt.Sprintf(" %d %s", r.Line, strings.ReplaceAll(r.Error, dir+string(filepath.Separator), ""))
		}
		for _, f := range r.Findings {
			s += fmt.Sprintf(" %s@%d", f.Rule, f.Line)
		}
		return s
	}
	run := func(paths []string, stdin string, allowEmpty bool) []string {
		rep, err := Run(ctx, Options{Paths: paths, Stdin: strings.NewReader(stdin), Evaluator: opa, Profile: "hostprocess",
			Workers: 2, Limits: manifest.DefaultOptions(), AllowEmpty: allowEmpty})
		require.NoError(t, err)
		require.Equal(t, len(rep.Results), rep.Summary.Documents)
		out := []string{}
		for _, r := range rep.Results {
			out = append(out, row(r))
		}
		return out
	}
	goodRows := run([]string{good}, "", false)
	require.Len(t, goodRows, 2)
	require.Contains(t, goodRows[0], "good/pod.yaml checked ")
	require.Contains(t, goodRows[0], " host-network-required@4")
	require.Equal(t, "good/pod.yaml skipped", goodRows[1])
	notFound := "cannot read: no such file or directory; check the path (a shell pattern that matches no file is passed as is)"
	noEmpty := "nothing was checked, which is not a pass"
	tests := []struct {
		name       string
		paths      []string
		stdin      string
		allowEmpty bool
		want       []string
	}{
		{name: "a missing path among good ones", paths: []string{good, missing, "-"}, stdin: pod,
			want: append(append(slices.Clone(goodRows), "missing.yaml error 0 missing.yaml: "+notFound),
				strings.ReplaceAll(goodRows[0], "good/pod.yaml", "<stdin>"), strings.ReplaceAll(goodRows[1], "good/pod.yaml", "<stdin>"))},
		{name: "a link to a directory, with a loop inside", paths: []string{link},
			want: append(replaceAll(goodRows, "good/pod.yaml", "link/pod.yaml"),
				"link/up error 0 link/up: symbolic link loop: the link leads to "+mustReal(t, dir)+
					", which contains it, and is not followed: remove the link, or pass the directories it should add as arguments")},
		{name: "UTF-16LE", paths: []string{le}, want: replaceAll(goodRows, "good/pod.yaml", "le.yaml")},
		{name: "UTF-16BE", paths: []string{be}, want: replaceAll(goodRows, "good/pod.yaml", "be.yaml")},
		{name: "a number kubectl refuses", paths: []string{big, good},
			want: append([]string{"big.json error 1 big.json:2: spec.replicas: number 1e400 is out of range: kubectl cannot decode it as a float64 " +
				"and refuses the document; write a number within ±1.8e308, or quote it to make it a string"}, goodRows...)},
		{name: "empty stdin", paths: []string{"-"},
			want: []string{"<stdin> error 0 <stdin> is empty (0 bytes): " + noEmpty + ". If it is the output of `helm template` or `kustomize build`, " +
				"that command failed: see its errors, and run the pipeline with `set -o pipefail`; or pass --allow-empty if an input without manifests is expected"}},
		{name: "empty stdin allowed", paths: []string{"-"}, allowEmpty: true, want: []string{}},
		{name: "stdin of comments", paths: []string{"-"}, stdin: "# c\n---\n",
			want: []string{"<stdin> error 0 <stdin> holds no Kubernetes object (8 bytes of blank lines, comments, empty Lists or documents without apiVersion and kind): " + noEmpty +
				". Check the command that produced it, or pass --allow-empty if an input without manifests is expected"}},
		{name: "a directory without manifests and a file of comments", paths: []string{empty, comments},
			want: []string{
				"empty error 0 empty holds no file named *.json, *.yaml, *.yml (searched recursively, following symbolic links): " + noEmpty +
					". Check the path, or pass --allow-empty if an input without manifests is expected",
				"comments.yaml error 0 comments.yaml holds no Kubernetes object (only blank lines, comments, empty Lists or documents without apiVersion and kind): " + noEmpty +
					". Check the file, or pass --allow-empty if an input without manifests is expected"}},
		{name: "empty inputs allowed", paths: []string{empty, comments, "-"}, allowEmpty: true, want: []string{}},
		{name: "empty inputs beside a missing path: only the missing path", paths: []string{empty, missing},
			want: []string{"missing.yaml error 0 missing.yaml: " + notFound}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, run(tt.paths, tt.stdin, tt.allowEmpty))
		})
	}
}

func replaceAll(rows []string, old, new string) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = strings.ReplaceAll(r, old, new)
	}
	return out
}

func mustReal(t *testing.T, p string) string {
	t.Helper()
	r, err := filepath.EvalSymlinks(p)
	require.NoError(t, err)
	return r
}

// TestOnResultStreamsInOrder checks that a run with OnResult hands over exactly the results a run
// without it reports, in the same order and numbering, keeps none of them, and counts them alike;
// with several workers finishing out of order.
func TestOnResultStreamsInOrder(t *testing.T) {
	ctx := context.Background()
	p, err := engine.LoadPolicy(policies.Rego())
	require.NoError(t, err)
	opa, err := engine.NewOPA(ctx, p, "hostprocess", nil)
	require.NoError(t, err)
	opts := Options{Paths: concurrencyPaths, Profile: "hostprocess", Workers: 4, Limits: manifest.DefaultOptions()}
	opts.Evaluator = &jitter{ev: opa, seed: 7}
	want, err := Run(ctx, opts)
	require.NoError(t, err)
	require.Greater(t, want.Summary.Checked, 100)

	var got []report.Result
	opts.Evaluator = &jitter{ev: opa, seed: 8}
	opts.OnResult = func(r report.Result) error { got = append(got, r); return nil }
	rep, err := Run(ctx, opts)
	require.NoError(t, err)
	require.Empty(t, rep.Results, "a streamed run keeps no result")
	require.Equal(t, want.Summary, rep.Summary)
	require.Equal(t, want.Results, got)

	// An error of the hand-over ends the run with that error.
	opts.OnResult = func(report.Result) error { return errors.New("disk full") }
	_, err = Run(ctx, opts)
	require.ErrorContains(t, err, "disk full")

	// An empty run streams the results that say why.
	got = nil
	opts.Paths = []string{filepath.Join(t.TempDir())}
	opts.OnResult = func(r report.Result) error { got = append(got, r); return nil }
	rep, err = Run(ctx, opts)
	require.NoError(t, err)
	require.True(t, EmptyRun(rep))
	require.Len(t, got, 1)
	require.Contains(t, got[0].Error, nothingChecked)
}
