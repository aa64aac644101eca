package generator_test

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/hpguard/hpguard/generator"
	"github.com/hpguard/hpguard/generator/spec"
)

func loadSpec(t *testing.T) *spec.Spec {
	t.Helper()
	s, err := spec.LoadDir(filepath.Join("..", "policies", "spec"))
	require.NoError(t, err)
	return s
}

// TestGeneratedFilesUpToDate is the drift test: the committed artifacts equal a fresh generation.
// The bundle, which the command layer derives from them, is checked by `hpguard generate --check`
// (cmd/hpguard TestGenerateCheck).
func TestGeneratedFilesUpToDate(t *testing.T) {
	files, err := generator.Generate(loadSpec(t))
	require.NoError(t, err)
	diff, err := generator.Diff("..", files)
	require.NoError(t, err)
	require.Empty(t, slices.DeleteFunc(diff, func(d string) bool { return d == generator.BundlePath+" (stale)" }),
		"generated files are out of date; run `make generate` and commit the result")
}

func TestDerive(t *testing.T) {
	derived := generator.File{Path: generator.BundlePath, Data: []byte("x")}
	files, err := generator.Generate(loadSpec(t), func(in []generator.File) ([]generator.File, error) {
		require.NotEmpty(t, in)
		return []generator.File{derived}, nil
	})
	require.NoError(t, err)
	require.Contains(t, files, derived)
	_, err = generator.Generate(loadSpec(t), func([]generator.File) ([]generator.File, error) {
		return []generator.File{{Path: generator.MetadataPath}}, nil
	})
	require.ErrorContains(t, err, "two files at "+generator.MetadataPath)
}

func TestGenerateIsDeterministic(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: runs without -short (make test)")
	}
	s := loadSpec(t)
	a, err := generator.Generate(s)
	require.NoError(t, err)
	b, err := generator.Generate(loadSpec(t))
	require.NoError(t, err)
	require.Equal(t, len(a), len(b))
	for i := range a {
		require.Equal(t, a[i].Path, b[i].Path)
		require.True(t, bytes.Equal(a[i].Data, b[i].Data), "%s differs between two generations", a[i].Path)
	}
	for i := 1; i < len(a); i++ {
		require.Less(t, a[i-1].Path, a[i].Path, "files are sorted by path")
	}
}

// TestArtifactsMapToRules checks consistency both ways: every rule has a Rego package, tests and
// golden cases; every generated rule package belongs to a rule.
func TestArtifactsMapToRules(t *testing.T) {
	s := loadSpec(t)
	files, err := generator.Generate(s)
	require.NoError(t, err)
	byPath := map[string][]byte{}
	for _, f := range files {
		byPath[f.Path] = f.Data
		if strings.HasSuffix(f.Path, ".rego") || strings.HasSuffix(f.Path, ".yaml") {
			require.Contains(t, string(f.Data), generator.Header, "%s starts with the generated-code header", f.Path)
		}
	}
	for _, r := range s.Rules {
		name := strings.ReplaceAll(r.ID, "-", "_")
		mod := byPath["policies/rego/rules/"+name+".rego"]
		require.NotNil(t, mod, "rule %s has a Rego package", r.ID)
		require.Contains(t, string(mod), "package hpguard.rules."+name+"\n")
		require.Contains(t, string(mod), "id: "+r.ID, "METADATA carries the rule id")
		require.NotNil(t, byPath["policies/rego/rules/"+name+"_test.rego"], "rule %s has generated tests", r.ID)
	}
	for p := range byPath {
		if strings.HasPrefix(p, "policies/rego/rules/") && !strings.HasSuffix(p, "_test.rego") {
			id := strings.ReplaceAll(strings.TrimSuffix(filepath.Base(p), ".rego"), "_", "-")
			require.NotNil(t, s.RuleByID(id), "%s belongs to no rule", p)
		}
	}
	cases, err := generator.Cases(s)
	require.NoError(t, err)
	levels := map[string]map[string]bool{}
	for _, c := range cases {
		if levels[c.Rule] == nil {
			levels[c.Rule] = map[string]bool{}
		}
		levels[c.Rule][c.Level] = true
	}
	for _, r := range s.Rules {
		require.NotEmpty(t, levels[r.ID], "rule %s has golden cases", r.ID)
	}
}

func TestUnknownCheckKind(t *testing.T) {
	s := loadSpec(t)
	s.Rules[0].Check.Kind = "no-such-kind"
	_, err := generator.Generate(s)
	require.ErrorContains(t, err, `unknown check kind "no-such-kind"`)
	require.ErrorContains(t, err, s.Rules[0].File)
}

// TestLoadResolvesChecks: loading the spec decodes every check's arguments, so that a typo in a
// rule file is an error with its file and line, not a silent default.
func TestLoadResolvesChecks(t *testing.T) {
	dir := filepath.Join("..", "policies", "spec")
	s, err := generator.LoadDir(dir)
	require.NoError(t, err)
	for _, r := range s.Rules {
		require.NotNil(t, r.Check.Typed, "rule %s has typed arguments", r.ID)
	}
	fsys := fstest.MapFS{}
	require.NoError(t, fs.WalkDir(os.DirFS(dir), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(filepath.Join(dir, p))
		fsys[p] = &fstest.MapFile{Data: b}
		return err
	}))
	f := fsys["rules/host-network-required.yaml"]
	text := strings.Replace(string(f.Data), "    equals: true\n", "    equal: true\n", 1)
	require.NotEqual(t, string(f.Data), text)
	line := strings.Count(text[:strings.Index(text, "    equal: true")], "\n") + 1
	f.Data = []byte(text)
	_, err = generator.Load(fsys)
	require.ErrorIs(t, err, spec.ErrInvalid)
	require.ErrorContains(t, err, fmt.Sprintf(`rules/host-network-required.yaml:%d: rule "host-network-required": check field-value: unknown argument "equal"`, line))
}
