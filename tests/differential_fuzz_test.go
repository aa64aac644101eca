package tests

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// fuzzSeed is one input of a fuzz target.
type fuzzSeed struct {
	target string // FuzzXxx
	name   string // file name in the seed corpus, or f.Add-<n>
	data   []byte
}

// fuzzSeeds returns the seeds of the fuzz targets of the package in dir: every file of
// testdata/fuzz/<target>/ (`go test fuzz v1`, one []byte or string value) and the arguments of the
// targets' f.Add calls that are constant (string literals, package constants, their concatenation,
// converted to []byte). computed names the f.Add calls whose argument is only known at run time.
func fuzzSeeds(t *testing.T, dir string) (seeds []fuzzSeed, computed []string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "testdata", "fuzz", "*", "*"))
	require.NoError(t, err)
	sort.Strings(files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		data, err := decodeFuzzFile(b)
		require.NoError(t, err, f)
		seeds = append(seeds, fuzzSeed{target: filepath.Base(filepath.Dir(f)), name: filepath.Base(f), data: data})
	}

	fset := token.NewFileSet()
	srcs, err := filepath.Glob(filepath.Join(dir, "*_test.go"))
	require.NoError(t, err)
	var parsed []*ast.File
	consts := map[string]ast.Expr{}
	for _, src := range srcs {
		f, err := parser.ParseFile(fset, src, nil, 0)
		require.NoError(t, err)
		parsed = append(parsed, f)
		for _, d := range f.Decls {
			if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.CONST {
				for _, spec := range g.Specs {
					vs := spec.(*ast.ValueSpec)
					for i, n := range vs.Names {
						if i < len(vs.Values) {
							consts[n.Name] = vs.Values[i]
						}
					}
				}
			}
		}
	}
	for _, f := range parsed {
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || !strings.HasPrefix(fn.Name.Name, "Fuzz") || fn.Body == nil || len(fn.Type.Params.List) != 1 || len(fn.Type.Params.List[0].Names) != 1 {
				continue
			}
			param := fn.Type.Params.List[0].Names[0].Name
			n := 0
			ast.Inspect(fn.Body, func(node ast.Node) bool {
				call, ok := node.(*ast.CallExpr)
				if !ok {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok || sel.Sel.Name != "Add" {
					return true
				}
				if x, ok := sel.X.(*ast.Ident); !ok || x.Name != param {
					return true
				}
				n++
				if len(call.Args) == 1 {
					if s, ok := constString(call.Args[0], consts, 0); ok {
						seeds = append(seeds, fuzzSeed{target: fn.Name.Name, name: fmt.Sprintf("f.Add-%d", n), data: []byte(s)})
						return true
					}
				}
				computed = append(computed, fmt.Sprintf("%s f.Add at %s", fn.Name.Name, fset.Position(call.Pos())))
				return true
			})
		}
	}
	return seeds, computed
}

// decodeFuzzFile decodes a seed corpus file of a target with one []byte (or string) argument.
func decodeFuzzFile(b []byte) ([]byte, error) {
	header, rest, _ := strings.Cut(string(b), "\n")
	if strings.TrimSpace(header) != "go test fuzz v1" {
		return nil, fmt.Errorf("not a `go test fuzz v1` file: %q", header)
	}
	var values []string
	for _, line := range strings.Split(rest, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		e, err := parser.ParseExpr(line)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", line, err)
		}
		s, ok := constString(e, nil, 0)
		if !ok {
			return nil, fmt.Errorf("%q: not a []byte or string value", line)
		}
		values = append(values, s)
	}
	if len(values) != 1 {
		return nil, fmt.Errorf("%d values, want 1", len(values))
	}
	return []byte(values[0]), nil
}

// constString evaluates a constant string expression: a string literal, a constant of consts, a
// concatenation, or a conversion to []byte or string of one.
func constString(e ast.Expr, consts map[string]ast.Expr, depth int) (string, bool) {
	if depth > 100 {
		return "", false
	}
	switch e := e.(type) {
	case *ast.BasicLit:
		if e.Kind == token.STRING {
			s, err := strconv.Unquote(e.Value)
			return s, err == nil
		}
	case *ast.ParenExpr:
		return constString(e.X, consts, depth+1)
	case *ast.Ident:
		if v, ok := consts[e.Name]; ok {
			return constString(v, consts, depth+1)
		}
	case *ast.BinaryExpr:
		if e.Op == token.ADD {
			a, ok1 := constString(e.X, consts, depth+1)
			b, ok2 := constString(e.Y, consts, depth+1)
			return a + b, ok1 && ok2
		}
	case *ast.CallExpr:
		if len(e.Args) != 1 {
			break
		}
		switch fun := e.Fun.(type) {
		case *ast.ArrayType:
			if id, ok := fun.Elt.(*ast.Ident); ok && fun.Len == nil && id.Name == "byte" {
				return constString(e.Args[0], consts, depth+1)
			}
		case *ast.Ident:
			if fun.Name == "string" {
				return constString(e.Args[0], consts, depth+1)
			}
		}
	}
	return "", false
}
