package generator

import (
	"fmt"
	"strings"
	"testing/fstest"

	"github.com/hpguard/hpguard/generator/spec"
)

// PolicyFS compiles the spec into the policy set an evaluator loads (the contents of policies/rego:
// Rego modules and data.json), in memory, rooted like policies/rego.
func PolicyFS(s *spec.Spec) (fstest.MapFS, error) {
	if err := resolve(s); err != nil {
		return nil, err
	}
	files, err := Rego(s)
	if err != nil {
		return nil, fmt.Errorf("generate rego: %w", err)
	}
	meta, err := metadataFile(s)
	if err != nil {
		return nil, err
	}
	out := fstest.MapFS{}
	for _, f := range append(files, meta) {
		out[strings.TrimPrefix(f.Path, RegoDir+"/")] = &fstest.MapFile{Data: f.Data, Mode: 0o644}
	}
	return out, nil
}
