package check

import (
	"context"
	"errors"
	"hash/fnv"
	"math/rand/v2"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

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
