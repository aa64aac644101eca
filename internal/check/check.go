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
	index int
	doc   manifest.Document
}

// Run checks every document of every input and returns the report; the error is only for
// failures that are not about an input (an input problem is a result with status error).
func Run(ctx context.Context, opts Options) (*report.Report, error) {
	files, expandErr := manifest.Expand(opts.Paths)
	rep := &report.Report{Version: 1, Profile: opts.Profile}
	var results []report.Result
	if expandErr != nil {
		results = append(results, report.Result{File: strings.Join(opts.Paths, " "), Status: report.StatusError, Error: expandErr.Error(), Findings: []report.Finding{}})
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	jobs := make(chan job)
	var mu sync.Mutex
	var evalErr error
	var wg sync.WaitGroup
	done := 0
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				findings, err := opts.Evaluator.Evaluate(ctx, j.doc.Object)
				mu.Lock()
				r := &results[j.index]
				if err != nil {
					r.Status, r.Error = report.StatusError, err.Error()
					if evalErr == nil && ctx.Err() != nil {
						evalErr = ctx.Err()
					}
				} else {
					for i := range findings {
						findings[i].Line = j.doc.FieldLine(findings[i].Field)
					}
					r.Findings = append(r.Findings, findings...)
				}
				done++
				if opts.Progress != nil {
					opts.Progress(done)
				}
				mu.Unlock()
			}
		}()
	}
	var pending []job
	for _, f := range files {
		docs, err := manifest.ReadFile(f, opts.Stdin, opts.Limits)
		name := displayName(f)
		if err != nil {
			mu.Lock()
			results = append(results, report.Result{File: name, Status: report.StatusError, Error: err.Error(), Findings: []report.Finding{}})
			mu.Unlock()
			continue
		}
		for _, d := range docs {
			r := report.Result{File: name, Document: d.Index, Line: d.Line, Findings: []report.Finding{}}
			if d.Err != nil {
				r.Status, r.Error = report.StatusError, d.Err.Error()
			} else {
				r.APIVersion, r.Kind, r.Namespace, r.Name = d.APIVersion(), d.Kind(), d.Namespace(), d.Name()
				if IsWorkload(r.APIVersion, r.Kind) {
					r.Status = report.StatusChecked
				} else {
					r.Status = report.StatusSkipped
				}
			}
			mu.Lock()
			results = append(results, r)
			idx := len(results) - 1
			mu.Unlock()
			if r.Status == report.StatusChecked {
				pending = append(pending, job{index: idx, doc: d})
			}
		}
	}
	// Results are appended above while workers are idle; feed them only once the slice is final,
	// so that the workers' pointers into it stay valid.
	for _, j := range pending {
		select {
		case jobs <- j:
		case <-ctx.Done():
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
	rep.Results = results
	rep.Summary = report.Summarize(results, len(files))
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
