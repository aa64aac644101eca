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

type job struct {
	result *report.Result
	doc    manifest.Document
}

// Run checks every document of every input and returns the report; the error is only for
// failures that are not about an input (an input problem is a result with status error).
// Documents are streamed: each is evaluated by a bounded pool of workers as soon as it is read, so
// memory holds the results but not the inputs.
func Run(ctx context.Context, opts Options) (*report.Report, error) {
	files, expandErr := manifest.Expand(opts.Paths)
	var results []*report.Result
	if expandErr != nil {
		results = append(results, &report.Result{File: strings.Join(opts.Paths, " "), Status: report.StatusError, Error: expandErr.Error(), Findings: []report.Finding{}})
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
				findings, err := opts.Evaluator.Evaluate(ctx, j.doc.Object)
				if err != nil {
					if ctx.Err() != nil {
						errOnce.Do(func() { evalErr = ctx.Err() })
						failed.Store(true)
					}
					j.result.Status, j.result.Error = report.StatusError, err.Error()
				} else {
					for i := range findings {
						findings[i].Line = j.doc.FieldLine(findings[i].Field)
					}
					j.result.Findings = append(j.result.Findings, findings...)
				}
				n := done.Add(1)
				if opts.Progress != nil {
					opts.Progress(int(n))
				}
			}
		}()
	}
	for _, f := range files {
		if failed.Load() || ctx.Err() != nil {
			break
		}
		name := displayName(f)
		err := manifest.StreamFile(f, opts.Stdin, opts.Limits, func(d manifest.Document) {
			r := &report.Result{File: name, Document: d.Index, Line: d.Line, Findings: []report.Finding{}}
			results = append(results, r)
			if d.Err != nil {
				r.Status, r.Error = report.StatusError, d.Err.Error()
				return
			}
			r.APIVersion, r.Kind, r.Namespace, r.Name = d.APIVersion(), d.Kind(), d.Namespace(), d.Name()
			if !IsWorkload(r.APIVersion, r.Kind) {
				r.Status = report.StatusSkipped
				return
			}
			r.Status = report.StatusChecked
			select {
			case jobs <- job{result: r, doc: d}:
			case <-ctx.Done():
			}
		})
		if err != nil {
			results = append(results, &report.Result{File: name, Status: report.StatusError, Error: err.Error(), Findings: []report.Finding{}})
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
	rep := &report.Report{Version: 1, Profile: opts.Profile, Results: make([]report.Result, len(results))}
	for i, r := range results {
		rep.Results[i] = *r
	}
	rep.Summary = report.Summarize(rep.Results, len(files))
	return rep, nil
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
