package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"

	"github.com/hpguard/hpguard/internal/engine"
	"github.com/hpguard/hpguard/internal/manifest"
	"github.com/hpguard/hpguard/internal/report"
	"github.com/hpguard/hpguard/policies"
)

var (
	fuzzOnce sync.Once
	fuzzEvs  []*engine.OPA
	fuzzErr  error
)

// fuzzEvaluators prepares the evaluator once per process: the strict profile, which has every rule
// (preparing each profile would spend a short fuzz run's time in the workers' start-up).
func fuzzEvaluators(tb testing.TB) []*engine.OPA {
	fuzzOnce.Do(func() {
		p, err := engine.LoadPolicy(policies.Rego())
		if err != nil {
			fuzzErr = err
			return
		}
		ev, err := engine.NewOPA(context.Background(), p, "strict", nil)
		if err != nil {
			fuzzErr = err
			return
		}
		fuzzEvs = append(fuzzEvs, ev)
	})
	if fuzzErr != nil {
		tb.Fatal(fuzzErr)
	}
	return fuzzEvs
}

// FuzzEvaluate fuzzes the evaluator entry point as hpguard check drives it: bytes are read by the
// manifest reader, and every document it returns is evaluated (strict profile: every rule) and its
// findings located. Evaluation must not fail or panic on any object the reader produces, findings
// must be well formed and sorted, and evaluation must be deterministic.
// Seeds: testdata/fuzz/FuzzEvaluate and the bypass corpus (tests/bypass).
func FuzzEvaluate(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("..", "..", "tests", "bypass", "*.*"))
	for _, s := range seeds {
		if ext := filepath.Ext(s); ext != ".yaml" && ext != ".json" {
			continue
		}
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	evs := fuzzEvaluators(f)
	opts := manifest.Options{MaxFileBytes: 1 << 20, MaxDocumentBytes: 64 << 10, MaxDepth: 50}
	f.Fuzz(func(t *testing.T, data []byte) {
		docs, err := manifest.ReadBytes("fuzz.yaml", data, opts)
		if err != nil {
			return
		}
		ev := evs[len(data)%len(evs)]
		for i, d := range docs {
			if d.Err != nil {
				continue
			}
			fs, err := ev.Evaluate(context.Background(), d.Object)
			if err != nil {
				t.Fatalf("document %d, profile %s: %v", i, ev.Profile, err)
			}
			for _, f := range fs {
				if f.Rule == "" || f.Message == "" || f.Field == "" || (f.Severity != report.SeverityDeny && f.Severity != report.SeverityWarn) {
					t.Fatalf("document %d, profile %s: malformed finding %+v", i, ev.Profile, f)
				}
				if l := d.FieldLine(f.Field); l < 1 {
					t.Fatalf("document %d: FieldLine(%q) = %d", i, f.Field, l)
				}
			}
			sorted := append([]report.Finding(nil), fs...)
			engine.SortFindings(sorted)
			if !reflect.DeepEqual(sorted, fs) {
				t.Fatalf("document %d: findings not sorted", i)
			}
			again, err := ev.Evaluate(context.Background(), d.Object)
			if err != nil || !reflect.DeepEqual(again, fs) {
				t.Fatalf("document %d, profile %s: second evaluation differs: %v", i, ev.Profile, err)
			}
		}
	})
}
