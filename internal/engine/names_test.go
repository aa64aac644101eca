package engine

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/google/cel-go/cel"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/stretchr/testify/require"
	"golang.org/x/text/width"
	"k8s.io/apiserver/pkg/cel/environment"

	"github.com/hpguard/hpguard/internal/ruleset"
	"github.com/hpguard/hpguard/internal/testutil"
)

// shippedNames reads the name comparison shipped in policies/rego/data.json.
func shippedNames(t *testing.T) ruleset.NameComparison {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "policies", "rego", "data.json"))
	require.NoError(t, err)
	rs, err := ruleset.Parse(data)
	require.NoError(t, err)
	require.NoError(t, rs.NameComparison.Validate())
	return rs.NameComparison
}

// everyRune is every Unicode scalar value of the Basic Multilingual Plane and the fullwidth and
// letterlike blocks beyond it that case mappings touch (all of them are in the BMP).
func everyRune() []rune {
	var rs []rune
	for r := rune(0); r <= 0xffff; r++ {
		if utf8.ValidRune(r) {
			rs = append(rs, r)
		}
	}
	return rs
}

// mightRead is an oracle independent of the spec: the ASCII characters a rune may be read as by
// some case mapping (Unicode simple upper and lower case, case folding orbits) or width folding.
func mightRead(r rune) []byte {
	var out []byte
	add := func(x rune) {
		if x < utf8.RuneSelf && x >= 0x20 && x != 0x7f {
			c := byte(unicode.ToLower(x))
			if !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
	}
	add(r)
	add(unicode.ToLower(r))
	add(unicode.ToUpper(r))
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		add(f)
	}
	if folded := []rune(width.Fold.String(string(r))); len(folded) == 1 {
		add(folded[0])
	}
	return out
}

// TestNameComparisonCoversUnicode proves the spec's look-alike table complete against Go's Unicode
// tables and width folding: a deny-list class of an ASCII character holds exactly the runes that
// some mapping reads as that character.
func TestNameComparisonCoversUnicode(t *testing.T) {
	nc := shippedNames(t)
	for c := byte(0x20); c < 0x7f; c++ {
		if 'A' <= c && c <= 'Z' {
			continue
		}
		var want []rune
		for _, r := range everyRune() {
			if slices.Contains(mightRead(r), c) {
				want = append(want, r)
			}
		}
		require.Equal(t, want, nc.Class(c, false), "deny-list class of %q: add the missing look-alikes to nameComparison in policies/spec/ruleset.yaml", string(c))
	}
}

// TestNameComparisonEngines evaluates the deny-list classes and the allow-list fold in Go, Rego
// (regex.match, the library's ascii_lower) and CEL (matches, lowerAscii) over the characters that
// matter (and a sample of the rest of the BMP) and requires the same answers; it also shows why neither engine's own lower-casing is used.
func TestNameComparisonEngines(t *testing.T) {
	ctx := context.Background()
	nc := shippedNames(t)
	// Every character some mapping relates to ASCII, the Latin, letterlike and fullwidth blocks,
	// and every 16th character of the BMP beside them (all 63,488 take minutes in Rego).
	var runes []rune
	for _, r := range everyRune() {
		if len(mightRead(r)) > 0 || r < 0x250 || (0x2100 <= r && r < 0x2150) || (0xff00 <= r && r < 0xfff0) || r == 0x3000 || r%16 == 7 {
			runes = append(runes, r)
		}
	}
	inputs := make([]string, len(runes))
	for i, r := range runes {
		inputs[i] = string(r) + "x" + string(r)
	}
	chars := "abcdefghijklmnopqrstuvwxyz .-?\\/"
	patterns := make([]string, 0, len(chars)+1)
	for i := 0; i < len(chars); i++ {
		patterns = append(patterns, nc.DenyPattern([]string{string(chars[i]) + "x" + string(chars[i])}, false, chars[i] == '/' || chars[i] == '\\'))
	}

	// Go.
	goMatch := make([][]bool, len(patterns))
	for i, p := range patterns {
		re := regexp.MustCompile(p)
		goMatch[i] = make([]bool, len(inputs))
		for j, s := range inputs {
			goMatch[i][j] = re.MatchString(s)
		}
	}
	goLower := make([]string, len(inputs))
	for j, s := range inputs {
		goLower[j] = testutil.ASCIILower(s)
	}

	// Rego: the shipped library's ascii_lower and RE2 regex.match.
	lib, err := os.ReadFile(filepath.Join("..", "..", "policies", "rego", "lib", "core.rego"))
	require.NoError(t, err)
	rs, err := rego.New(
		rego.Query(`m := [[regex.match(p, s) | some s in input.inputs] | some p in input.patterns]; l := [data.hpguard.lib.core.ascii_lower(s) | some s in input.inputs]; u := [lower(s) | some s in input.inputs]`),
		rego.Module("core.rego", string(lib)),
		rego.Input(map[string]any{"inputs": inputs, "patterns": patterns}),
	).Eval(ctx)
	require.NoError(t, err)
	require.Len(t, rs, 1)
	regoMatch := rs[0].Bindings["m"].([]any)
	regoLower := rs[0].Bindings["l"].([]any)
	regoUnicodeLower := rs[0].Bindings["u"].([]any)

	// CEL, in the API server's environment.
	base, err := environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion()).Env(environment.NewExpressions)
	require.NoError(t, err)
	env, err := base.Extend(cel.Variable("inputs", cel.ListType(cel.StringType)), cel.Variable("patterns", cel.ListType(cel.StringType)))
	require.NoError(t, err)
	eval := func(expr string) []string {
		ast, iss := env.Compile(expr)
		require.NoError(t, iss.Err(), expr)
		prg, err := env.Program(ast, cel.CostLimit(1<<62))
		require.NoError(t, err)
		out, _, err := prg.Eval(map[string]any{"inputs": inputs, "patterns": patterns})
		require.NoError(t, err, expr)
		v, err := out.ConvertToNative(reflect.TypeOf([]string{}))
		require.NoError(t, err)
		return v.([]string)
	}
	celMatch := eval(`patterns.map(p, inputs.map(s, s.matches(p) ? "1" : "0").join(""))`)
	celLower := eval(`inputs.map(s, s.lowerAscii())`)

	disagree := 0
	for i, p := range patterns {
		rm, cm := regoMatch[i].([]any), celMatch[i]
		for j, s := range inputs {
			if rm[j] != goMatch[i][j] || (cm[j] == '1') != goMatch[i][j] {
				disagree++
				if disagree < 20 {
					t.Errorf("deny-list %q on %q (U+%04X): go %v, rego %v, cel %v", p, s, runes[j], goMatch[i][j], rm[j], cm[j])
				}
			}
		}
	}
	for j, s := range inputs {
		if regoLower[j] != any(goLower[j]) || celLower[j] != goLower[j] {
			disagree++
			if disagree < 40 {
				t.Errorf("allow-list fold of %q (U+%04X): go %q, rego %q, cel %q", s, runes[j], goLower[j], regoLower[j], celLower[j])
			}
		}
	}
	require.Zero(t, disagree, "engines disagree on name comparison")

	// Why: Rego's (Go's) lower() folds U+212A and U+0130 into ASCII letters, CEL's lowerAscii does not.
	var differ []string
	for j, r := range runes {
		if regoUnicodeLower[j] != any(celLower[j]) && strings.ContainsAny(regoUnicodeLower[j].(string), "ik") && r > 0x7f {
			differ = append(differ, string(r))
		}
	}
	require.Subset(t, differ, []string{"\u212a", "\u0130"})
	t.Logf("%d characters x %d deny-list classes and the allow-list fold: Go, Rego and CEL agree; Rego lower() alone would fold %q into ASCII", len(inputs), len(patterns), differ)
}
