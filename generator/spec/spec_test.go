package spec

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"
)

const validRuleset = `name: t
version: 0.0.1
package: t
description: test
defaultProfile: p
profiles:
  - name: p
    description: test profile
    rules:
      a-rule: deny
`

const validRule = `id: a-rule
title: A rule
reference: R0
description: Something.
remediation: Fix it.
sources:
  - {title: A doc, url: "https://example.com/doc"}
scope: all-pods
check:
  kind: values-agree
  args: {path: [windowsOptions, hostProcess]}
parameters:
  - name: names
    description: names
    schema: {type: array, items: {type: string}}
    default: []
golden:
  base: hostprocess
  allowed:
    - name: ok
      patch: {}
  disallowed:
    - name: bad
      patch: {hostNetwork: false}
      expect:
        - {field: "{pod}.hostNetwork"}
`

func load(t *testing.T, files map[string]string) (*Spec, error) {
	t.Helper()
	fsys := fstest.MapFS{}
	for k, v := range files {
		fsys[k] = &fstest.MapFile{Data: []byte(v)}
	}
	return Load(fsys)
}

func TestLoadValid(t *testing.T) {
	s, err := load(t, map[string]string{"ruleset.yaml": validRuleset, "rules/a-rule.yaml": validRule})
	require.NoError(t, err)
	require.Len(t, s.Rules, 1)
	r := s.Rules[0]
	require.Equal(t, "a-rule", r.ID)
	require.Equal(t, map[string]any{"names": []any{}}, r.ParamDefaults())
	require.True(t, r.Parameters[0].HasDefault)
	require.Equal(t, 13, r.Parameters[0].Line)
}

func TestLoadInvalid(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string // substring of the error, with file and line
	}{
		{
			name:  "unknown field in rule",
			files: map[string]string{"ruleset.yaml": validRuleset, "rules/a-rule.yaml": strings.Replace(validRule, "scope: all-pods", "scope: all-pods\nscopes: x", 1)},
			want:  "rules/a-rule.yaml:9: field scopes not found",
		},
		{
			name:  "unknown field in ruleset",
			files: map[string]string{"ruleset.yaml": validRuleset + "colour: blue\n", "rules/a-rule.yaml": validRule},
			want:  "ruleset.yaml:11: field colour not found",
		},
		{
			name: "duplicate id",
			files: map[string]string{"ruleset.yaml": validRuleset, "rules/a-rule.yaml": validRule,
				"rules/b-rule.yaml": validRule},
			want: `rules/b-rule.yaml:1: duplicate rule id "a-rule" (also in rules/a-rule.yaml)`,
		},
		{
			name:  "no disallowed values",
			files: map[string]string{"ruleset.yaml": validRuleset, "rules/a-rule.yaml": validRule[:strings.Index(validRule, "  disallowed:")]},
			want:  `rules/a-rule.yaml:1: rule "a-rule" needs allowed and disallowed golden values`,
		},
		{
			name:  "parameter without default",
			files: map[string]string{"ruleset.yaml": validRuleset, "rules/a-rule.yaml": strings.Replace(validRule, "    default: []\n", "", 1)},
			want:  `rules/a-rule.yaml:13: parameter "names" has no default`,
		},
		{
			name:  "parameter without schema",
			files: map[string]string{"ruleset.yaml": validRuleset, "rules/a-rule.yaml": strings.Replace(validRule, "    schema: {type: array, items: {type: string}}\n", "", 1)},
			want:  `rules/a-rule.yaml:13: parameter "names" has no schema`,
		},
		{
			name:  "default does not match schema",
			files: map[string]string{"ruleset.yaml": validRuleset, "rules/a-rule.yaml": strings.Replace(validRule, "default: []", "default: 3", 1)},
			want:  `rules/a-rule.yaml:13: parameter "names": default does not match its schema`,
		},
		{
			name:  "profile names unknown rule",
			files: map[string]string{"ruleset.yaml": validRuleset + "      no-such-rule: warn\n", "rules/a-rule.yaml": validRule},
			want:  `ruleset.yaml:11: profile "p" names unknown rule "no-such-rule"`,
		},
		{
			name:  "disallowed value without expectation",
			files: map[string]string{"ruleset.yaml": validRuleset, "rules/a-rule.yaml": strings.Replace(validRule, "      expect:\n        - {field: \"{pod}.hostNetwork\"}\n", "", 1)},
			want:  `disallowed value "bad" expects no finding`,
		},
		{
			name:  "rule in wrongly named file",
			files: map[string]string{"ruleset.yaml": validRuleset, "rules/other.yaml": validRule},
			want:  `rule "a-rule" must be in a file named rules/a-rule.yaml`,
		},
		{
			name:  "golden params unknown",
			files: map[string]string{"ruleset.yaml": validRuleset, "rules/a-rule.yaml": strings.Replace(validRule, "    - name: ok\n", "    - name: ok\n      params: {nope: 1}\n", 1)},
			want:  `sets unknown parameter "nope"`,
		},
		{
			name:  "look-alike that is ASCII",
			files: map[string]string{"ruleset.yaml": validRuleset + "nameComparison:\n  lookalikes:\n    - {char: K, as: k}\n", "rules/a-rule.yaml": validRule},
			want:  `lookalike "K" must be one non-ASCII character`,
		},
		{
			name:  "look-alike read as upper case",
			files: map[string]string{"ruleset.yaml": validRuleset + "nameComparison:\n  lookalikes:\n    - {char: \"\\u212A\", as: K}\n", "rules/a-rule.yaml": validRule},
			want:  `must stand for one printable lower-case ASCII character`,
		},
	}
	tests = append(tests, struct {
		name  string
		files map[string]string
		want  string
	}{
		name:  "bad severity",
		files: map[string]string{"ruleset.yaml": strings.Replace(validRuleset, "a-rule: deny", "a-rule: block", 1), "rules/a-rule.yaml": validRule},
		want:  `ruleset.yaml:10: profile "p": rule "a-rule" has severity "block"`,
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, tt.files)
			require.Error(t, err)
			require.True(t, errors.Is(err, ErrInvalid), "error %v wraps ErrInvalid", err)
			require.Contains(t, err.Error(), tt.want)
		})
	}
}
