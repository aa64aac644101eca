package engine_test

import (
	"context"
	"os"
	"testing"

	"github.com/hpguard/hpguard/internal/engine"
	"github.com/hpguard/hpguard/internal/manifest"
	"github.com/hpguard/hpguard/policies"
	"github.com/hpguard/hpguard/vap"
)

// BenchmarkEvaluate evaluates the benchmark corpus (HPGUARD_BENCH_CORPUS, a multi-document file
// written by tests/bench/corpus) or, without it, the examples.
func BenchmarkEvaluate(b *testing.B) {
	path := os.Getenv("HPGUARD_BENCH_CORPUS")
	if path == "" {
		path = "../../examples/node-setup-job.yaml"
	}
	docs, err := manifest.ReadFile(path, nil, manifest.DefaultOptions())
	if err != nil {
		b.Fatal(err)
	}
	p, err := engine.LoadPolicy(policies.Rego())
	if err != nil {
		b.Fatal(err)
	}
	ev, err := engine.NewOPA(context.Background(), p, "hostprocess", nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d := docs[i%len(docs)]
		if _, err := ev.Evaluate(context.Background(), d.Object); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoadCEL measures the CEL engine's start-up: compiling a profile's shipped policies.
func BenchmarkLoadCEL(b *testing.B) {
	for i := 0; i < b.N; i++ {
		if _, err := engine.LoadCEL(vap.FS(), "hostprocess", nil); err != nil {
			b.Fatal(err)
		}
	}
}
