// Package check runs a check: it reads manifests, sorts documents into workloads to evaluate,
// documents to skip and documents in error, evaluates the workloads in parallel and assembles the
// report in input order.
package check

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hpguard/hpguard/internal/engine"
	"github.com/hpguard/hpguard/internal/manifest"
	"github.com/hpguard/hpguard/internal/report"
	"github.com/hpguard/hpguard/internal/workload"
)

// Options configure a check run.
type Options struct {
	// Paths are files, directories or "-" (stdin).
	Paths []string
	// Stdin is read for "-".
	Stdin io.Reader
	// Evaluator evaluates workloads.
	Evaluator engine.Evaluator
	// Profile is recorded in the report.
	Profile string
	// Workers bounds parallel evaluation (default: GOMAXPROCS).
	Workers int
	// Limits bound what the reader accepts.
	Limits manifest.Options
	// Progress, when set, is called after each evaluated document with the running count.
	Progress func(done int)
	// AllowEmpty makes a run that finds no document a pass (--allow-empty). Otherwise it is an
	// input error: one error result per argument, saying what was read.
	AllowEmpty bool
	// Ignore, when set, returns the ignore pattern a path found from an argument matches, or "":
	// a matched path is not read (a directory is not walked) and is not in the report.
	Ignore func(arg, path string, isDir bool) string
	// Ignored, when set, is told about each path left out by Ignore.
	Ignored func(path, pattern string)
	// KnownRule reports whether a rule id names a rule, for suppression annotations; nil accepts
	// every id.
	KnownRule func(id string) bool
	// NoSuppressions reports every finding as open, whatever the suppression annotations
	// (--no-suppressions); the annotations are still checked.
	NoSuppressions bool
	// Sources are manifest streams produced in memory (a built kustomization, a rendered Helm
	// template), checked after Paths like files named by their Name.
	Sources []Source
	// Render, when set, renders a Helm chart or a kustomization found among the inputs (an Input
	// with Chart or Kustomization set) into the sources checked in its place. When nil, such a
	// directory is an error result that says how to render it.
	Render func(in manifest.Input) []Source
	// NoRender reads the files of kustomizations, and files named inside a chart or a
	// kustomization, as files (manifest.ExpandOptions.NoRender).
	NoRender bool
	// OnResult, when set, receives each result in input order as soon as it is known, and the
	// report keeps none (Results stays empty; the summary counts them). An error stops the hand-over
	// and is returned by Run once the inputs are read.
	OnResult func(report.Result) error
}

// Source is a manifest stream produced in memory, checked like a file named Name.
type Source struct {
	// Name labels the stream's results.
	Name string
	// Data is the YAML or JSON stream.
	Data []byte
	// Err, when set, is why the stream could not be produced: an error result under Name.
	Err error
	// Arg is the argument that produced the stream (e.g. "-k overlays/prod"), named when the run
	// finds no document.
	Arg string
}

// slot holds the results of one pending document, filled in by a worker; done is closed when they
// are final.
type slot struct {
	file    string
	results []*report.Result
	done    chan struct{}
}

// newSlot is a slot for the documents of file, to be filled in by a worker.
func newSlot(file string) *slot { return &slot{file: file, done: make(chan struct{})} }

// readySlot is a slot holding a result already known (an input that cannot be read).
func readySlot(r *report.Result) *slot {
	s := &slot{results: []*report.Result{r}, done: make(chan struct{})}
	close(s.done)
	return s
}

type job struct {
	slot    *slot
	pending manifest.Pending
}

// Run checks every document of every input and returns the report; the error is only for
// failures that are not about an input (an input problem is a result with status error).
// Files are split into documents in order; a bounded pool of workers decodes and evaluates them,
// and results are assembled in input order as they complete. With Options.OnResult, each result
// is handed over in input order as soon as it and those before it are known, and not kept: the
// report then holds the summary only, and memory does not grow with the input.
//
// Each argument is expanded on its own: a path that cannot be read is an error result for that path
// and the others are still checked.
func Run(ctx context.Context, opts Options) (*report.Report, error) {
	inputs := manifest.ExpandWith(opts.Paths, manifest.ExpandOptions{Ignore: opts.Ignore, NoRender: opts.NoRender})
	stdin := &countReader{r: opts.Stdin}
	if opts.Stdin == nil {
		stdin = nil
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	jobs := make(chan job, 4*workers)
	var (
		wg      sync.WaitGroup
		done    atomic.Int64
		failed  atomic.Bool
		errOnce sync.Once
		evalErr error
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				work(ctx, opts, j, &done, func(err error) {
					errOnce.Do(func() { evalErr = err })
					failed.Store(true)
				}, &failed)
				close(j.slot.done)
			}
		}()
	}
	rep := &report.Report{Version: 1, Profile: opts.Profile, Results: []report.Result{}}
	out := newCollector(rep, opts.OnResult)
	// order holds the slots in input order; the collector waits for each in turn. It is bounded,
	// so that reading stays at most that far ahead of the results handed over.
	order := make(chan *slot, 64*workers)
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		for s := range order {
			<-s.done
			out.slot(s)
		}
	}()
	push := func(s *slot, p manifest.Pending) {
		order <- s
		if p == nil {
			return
		}
		select {
		case jobs <- job{slot: s, pending: p}:
		case <-ctx.Done():
			close(s.done)
		}
	}
	files := 0
	var rendered []Source // rendered from the charts and kustomizations found among the inputs
	for _, in := range inputs {
		if failed.Load() || ctx.Err() != nil {
			break
		}
		name := displayName(in.Path)
		if in.Ignored != "" {
			if opts.Ignored != nil {
				opts.Ignored(in.Path, in.Ignored)
			}
			continue
		}
		if in.Chart || in.Kustomization {
			if opts.Render == nil {
				push(readySlot(renderHint(name, in)), nil)
				continue
			}
			srcs := opts.Render(in)
			rendered = append(rendered, srcs...)
			files += addSources(ctx, opts, srcs, push, &failed)
			continue
		}
		if in.Err != nil {
			push(readySlot(inputError(name, in.Err)), nil)
			continue
		}
		files++
		var r io.Reader
		if stdin != nil {
			r = stdin
		}
		err := manifest.StreamPending(in.Path, r, opts.Limits, func(p manifest.Pending) {
			push(newSlot(name), p)
		})
		if err != nil {
			push(readySlot(inputError(name, err)), nil)
		}
	}
	files += addSources(ctx, opts, opts.Sources, push, &failed)
	close(jobs)
	close(order)
	wg.Wait()
	<-collected
	if evalErr != nil {
		return nil, evalErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !opts.AllowEmpty && !out.kubernetes {
		var n int64
		if stdin != nil {
			n = stdin.n
		}
		for _, r := range append(emptyRun(opts.Paths, inputs, n), emptySources(append(rendered, opts.Sources...))...) {
			out.result(r)
		}
		rep.NothingChecked = true
	}
	if out.err != nil {
		return nil, out.err
	}
	rep.Summary.Files = files
	return rep, nil
}

// work decodes and evaluates the documents of one job into its slot, unless the run has failed.
func work(ctx context.Context, opts Options, j job, done *atomic.Int64, fail func(error), failed *atomic.Bool) {
	if failed.Load() {
		return
	}
	for _, d := range j.pending() {
		r, err := evaluate(ctx, opts, j.slot.file, d)
		if err != nil {
			fail(err)
			return
		}
		j.slot.results = append(j.slot.results, r)
		if r.Status == report.StatusChecked {
			n := done.Add(1)
			if opts.Progress != nil {
				opts.Progress(int(n))
			}
		}
	}
}

// collector receives the results in input order: it numbers the documents of each file, counts
// them into the summary, and keeps them in the report or hands them to onResult.
type collector struct {
	rep      *report.Report
	onResult func(report.Result) error
	err      error // the first error of onResult; later results are counted, not handed over
	// kubernetes is set once a result is about a Kubernetes object (anything but a document
	// without apiVersion and kind).
	kubernetes bool
	file       string
	index      int
}

func newCollector(rep *report.Report, onResult func(report.Result) error) *collector {
	return &collector{rep: rep, onResult: onResult}
}

func (c *collector) slot(s *slot) {
	if s.file != c.file {
		c.index, c.file = 0, s.file
	}
	for _, r := range s.results {
		if s.file != "" {
			r.Document = c.index
		}
		c.result(*r)
	}
	if s.file != "" && len(s.results) > 0 {
		c.index++
	}
}

func (c *collector) result(r report.Result) {
	if !nonKubernetes(r) {
		c.kubernetes = true
	}
	c.rep.Summary.Add(r)
	switch {
	case c.onResult == nil:
		c.rep.Results = append(c.rep.Results, r)
	case c.err == nil:
		c.err = c.onResult(r)
	}
}

// nonKubernetes reports whether r is a document skipped because it is not a Kubernetes object at
// all (no apiVersion, no kind).
func nonKubernetes(r report.Result) bool {
	return r.Status == report.StatusSkipped && r.APIVersion == "" && r.Kind == ""
}

// renderHint is the error result for a Helm chart or a kustomization directory found in the input
// when the run does not render them (Options.Render is nil): a chart's templates are not manifests
// until rendered, and reading them would give only parse errors; a kustomization's files are not
// what it deploys.
func renderHint(dir string, in manifest.Input) *report.Result {
	msg := fmt.Sprintf("%s is a Helm chart (it holds %s): its templates are not manifests until rendered, so it is not read. "+
		"Render it: hpguard check --helm-chart %s, or helm template %s | hpguard check -; "+
		"or leave it out with --ignore", dir, manifest.ChartFile, dir, dir)
	if !in.Chart {
		msg = fmt.Sprintf("%s is a kustomization: its files are not what it deploys until built, so they are not read. "+
			"Build it: hpguard check -k %s, or kubectl kustomize %s | hpguard check -; "+
			"or leave it out with --ignore", dir, dir, dir)
	}
	return &report.Result{File: dir, Status: report.StatusError, Findings: []report.Finding{}, Error: msg}
}

// addSources queues the documents of sources as Run does those of files, and returns the number
// of sources read.
func addSources(ctx context.Context, opts Options, sources []Source, push func(*slot, manifest.Pending), failed *atomic.Bool) int {
	n := 0
	for _, src := range sources {
		if failed.Load() || ctx.Err() != nil {
			break
		}
		if src.Err != nil {
			push(readySlot(inputError(src.Name, src.Err)), nil)
			continue
		}
		n++
		err := manifest.StreamPendingReader(src.Name, bytes.NewReader(src.Data), opts.Limits, func(p manifest.Pending) {
			push(newSlot(src.Name), p)
		})
		if err != nil {
			push(readySlot(inputError(src.Name, err)), nil)
		}
	}
	return n
}

// emptySources explains, with one error result per argument that produced sources, that it
// rendered no document.
func emptySources(sources []Source) []report.Result {
	var out []report.Result
	seen := map[string]bool{}
	for _, src := range sources {
		if src.Arg == "" || seen[src.Arg] || src.Err != nil {
			continue
		}
		seen[src.Arg] = true
		out = append(out, report.Result{File: src.Arg, Status: report.StatusError, Findings: []report.Finding{},
			Error: fmt.Sprintf("%s rendered no Kubernetes object: %s. Check it, or pass --allow-empty if that is expected", src.Arg, nothingChecked)})
	}
	return out
}

// inputError is the result for a file or path that cannot be read.
func inputError(name string, err error) *report.Result {
	r := &report.Result{File: name, Status: report.StatusError, Error: err.Error(), Findings: []report.Finding{}}
	var pe *manifest.Error
	if errors.As(err, &pe) {
		r.Line = pe.Line
	}
	return r
}

// nothingChecked is in the message of every result of emptyRun.
const nothingChecked = "nothing was checked, which is not a pass"

// EmptyRun reports whether the report is that of a run that found no Kubernetes object (without
// AllowEmpty): its only results are those explaining why, and documents that are not Kubernetes
// objects.
func EmptyRun(r *report.Report) bool { return r.NothingChecked }

// countReader counts the bytes read from standard input, for emptyRun.
type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// emptyRun explains, with one error result per argument, that a run found no document to check
// and what it read instead: an empty input is more likely a failed `helm template` or a wrong path
// than a pass (kubectl apply refuses it too: "no objects passed to apply").
func emptyRun(args []string, inputs []manifest.Input, stdinBytes int64) []report.Result {
	const what = nothingChecked
	const allow = "pass --allow-empty if an input without manifests is expected"
	exts := strings.Join(manifest.Extensions, ", ")
	var out []report.Result
	for _, arg := range args {
		var found []string
		for _, in := range inputs {
			if in.Arg == arg {
				found = append(found, in.Path)
			}
		}
		var msg string
		switch fi, err := os.Stat(arg); {
		case arg == "-" && stdinBytes == 0:
			msg = fmt.Sprintf("<stdin> is empty (0 bytes): %s. If it is the output of `helm template` or `kustomize build`, "+
				"that command failed: see its errors, and run the pipeline with `set -o pipefail`; or %s", what, allow)
		case arg == "-":
			msg = fmt.Sprintf("<stdin> holds no Kubernetes object (%d bytes of blank lines, comments, empty Lists or "+
				"documents without apiVersion and kind): %s. "+
				"Check the command that produced it, or %s", stdinBytes, what, allow)
		case err == nil && fi.IsDir() && len(found) == 0:
			msg = fmt.Sprintf("%s holds no file named *%s (searched recursively, following symbolic links): %s. "+
				"Check the path, or %s", arg, strings.Join(manifest.Extensions, ", *"), what, allow)
		case err == nil && fi.IsDir():
			msg = fmt.Sprintf("%s: none of its %d %s files holds a Kubernetes object (only blank lines, comments, empty Lists "+
				"or documents without apiVersion and kind): %s. "+
				"Check the files, or %s", arg, len(found), exts, what, allow)
		case err == nil && fi.Size() == 0:
			msg = fmt.Sprintf("%s is empty (0 bytes): %s. Check the file, or %s", arg, what, allow)
		default:
			msg = fmt.Sprintf("%s holds no Kubernetes object (only blank lines, comments, empty Lists or documents "+
				"without apiVersion and kind): %s. Check the file, or %s", arg, what, allow)
		}
		out = append(out, report.Result{File: displayName(arg), Status: report.StatusError, Error: msg, Findings: []report.Finding{}})
	}
	return out
}

// evaluate classifies one decoded document and evaluates it when it is a workload. The error is
// only for a cancelled run; an evaluation problem is a result in error.
func evaluate(ctx context.Context, opts Options, file string, d manifest.Document) (*report.Result, error) {
	r := &report.Result{File: file, Line: d.Line, Findings: []report.Finding{}}
	if d.Err != nil {
		r.Status, r.Error = report.StatusError, d.Err.Error()
		return r, nil
	}
	if d.NonKubernetes != "" {
		r.Status, r.Reason = report.StatusSkipped, d.NonKubernetes
		return r, nil
	}
	r.APIVersion, r.Kind, r.Namespace, r.Name = d.APIVersion(), d.Kind(), d.Namespace(), d.Name()
	if !workload.IsWorkload(r.APIVersion, r.Kind) {
		r.Status, r.Reason = report.StatusSkipped, report.NotAWorkload(r.Kind)
		return r, nil
	}
	r.Status = report.StatusChecked
	findings, err := opts.Evaluator.Evaluate(ctx, d.Object)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		r.Status, r.Error = report.StatusError, err.Error()
		return r, nil
	}
	findings = applySuppressions(findings, d.Object, r.Kind, opts.KnownRule, opts.NoSuppressions)
	for i := range findings {
		findings[i].Line = d.FieldLine(findings[i].Field)
	}
	r.Findings = append(r.Findings, findings...)
	return r, nil
}

func displayName(f string) string {
	if f == "-" {
		return "<stdin>"
	}
	return f
}

// ExitCode is 2 when any document is in error, 1 when a finding fails the run, 0 otherwise.
func ExitCode(r *report.Report, failOn string) int {
	if r.Summary.Errors > 0 {
		return 2
	}
	if r.Summary.Deny > 0 || (failOn == report.SeverityWarn && r.Summary.Warn > 0) {
		return 1
	}
	return 0
}

// ValidateFailOn checks a --fail-on value.
func ValidateFailOn(v string) error {
	if v != report.SeverityDeny && v != report.SeverityWarn {
		return fmt.Errorf("--fail-on %q: want deny or warn", v)
	}
	return nil
}
