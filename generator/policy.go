package generator

import (
	"fmt"
	"io/fs"
	"os"
	"strings"
	"testing/fstest"

	"github.com/hpguard/hpguard/generator/checks"
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

// Load reads the spec in fsys (spec.Load) and resolves every rule's check against the registered
// kinds (checks.Resolve): the spec model the generator works on, validated with file and line.
func Load(fsys fs.FS) (*spec.Spec, error) {
	s, err := spec.Load(fsys)
	if err != nil {
		return s, err
	}
	return s, checks.Resolve(s)
}

// LoadDir is Load for a directory on disk.
func LoadDir(dir string) (*spec.Spec, error) {
	s, err := Load(os.DirFS(dir))
	if s != nil {
		s.Dir = dir
	}
	return s, err
}
