// Package check runs a check: it reads manifests, sorts documents into workloads to evaluate,
// documents to skip and documents in error, evaluates the workloads in parallel and assembles the
// report in input order.
package check

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hpguard/hpguard/internal/engine"
	"github.com/hpguard/hpguard/internal/manifest"
	"github.com/hpguard/hpguard/internal/report"
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
}

// workloadGroups maps each workload kind to the API groups it is a workload in.
var workloadGroups = map[string][]string{
	"Pod":                   {""},
	"PodTemplate":           {""},
	"ReplicationController": {""},
	"ReplicaSet":            {"apps", "extensions"},
	"Deployment":            {"apps", "extensions"},
	"DaemonSet":             {"apps", "extensions"},
	"StatefulSet":           {"apps"},
	"Job":                   {"batch"},
	"CronJob":               {"batch"},
}

// IsWorkload reports whether apiVersion/kind is one of the nine workload kinds.
func IsWorkload(apiVersion, kind string) bool {
	group := ""
	if i := strings.LastIndex(apiVersion, "/"); i >= 0 {
		group = apiVersion[:i]
	}
	for _, g := range workloadGroups[kind] {
		if g == group {
			return true
		}
	}
	return false
}

// slot holds the results of one pending document, filled in by a worker.
type slot struct {
	file    string
	results []*report.Result
}

type job struct {
	slot    *slot
	pending manifest.Pending
}

// Run checks every document of every input and returns the report; the error is only for
// failures that are not about an input (an input problem is a result with status error).
// Files are split into documents in order; a bounded pool of workers decodes and evaluates them,
// so memory holds the results but not the inputs, and results keep the input order.
func Run(ctx context.Context, opts Options) (*report.Report, error) {
	files, expandErr := manifest.Expand(opts.Paths)
	var slots []*slot
	if expandErr != nil {
		slots = append(slots, &slot{results: []*report.Result{{File: strings.Join(opts.Paths, " "), Status: report.StatusError, Error: expandErr.Error(), Findings: []report.Finding{}}}})
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
				if failed.Load() {
					continue
				}
				for _, d := range j.pending() {
					r, err := evaluate(ctx, opts.Evaluator, j.slot.file, d)
					if err != nil {
						errOnce.Do(func() { evalErr = err })
						failed.Store(true)
						break
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
		}()
	}
	for _, f := range files {
		if failed.Load() || ctx.Err() != nil {
			break
		}
		name := displayName(f)
		err := manifest.StreamPending(f, opts.Stdin, opts.Limits, func(p manifest.Pending) {
			s := &slot{file: name}
			slots = append(slots, s)
			select {
			case jobs <- job{slot: s, pending: p}:
			case <-ctx.Done():
			}
		})
		if err != nil {
			slots = append(slots, &slot{results: []*report.Result{{File: name, Status: report.StatusError, Error: err.Error(), Findings: []report.Finding{}}}})
		}
	}
	close(jobs)
	wg.Wait()
	if evalErr != nil {
		return nil, evalErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rep := &report.Report{Version: 1, Profile: opts.Profile, Results: []report.Result{}}
	index, file := 0, ""
	for _, s := range slots {
		if s.file != file {
			index, file = 0, s.file
		}
		for _, r := range s.results {
			if s.file != "" {
				r.Document = index
			}
			rep.Results = append(rep.Results, *r)
		}
		if s.file != "" && len(s.results) > 0 {
			index++
		}
	}
	rep.Summary = report.Summarize(rep.Results, len(files))
	return rep, nil
}

// evaluate classifies one decoded document and evaluates it when it is a workload. The error is
// only for a cancelled run; an evaluation problem is a result in error.
func evaluate(ctx context.Context, ev engine.Evaluator, file string, d manifest.Document) (*report.Result, error) {
	r := &report.Result{File: file, Line: d.Line, Findings: []report.Finding{}}
	if d.Err != nil {
		r.Status, r.Error = report.StatusError, d.Err.Error()
		return r, nil
	}
	r.APIVersion, r.Kind, r.Namespace, r.Name = d.APIVersion(), d.Kind(), d.Namespace(), d.Name()
	if !IsWorkload(r.APIVersion, r.Kind) {
		r.Status = report.StatusSkipped
		return r, nil
	}
	r.Status = report.StatusChecked
	findings, err := ev.Evaluate(ctx, d.Object)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		r.Status, r.Error = report.StatusError, err.Error()
		return r, nil
	}
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
