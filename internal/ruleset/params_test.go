package ruleset

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestValidateValue(t *testing.T) {
	schema := map[string]any{"type": "array", "items": map[string]any{"type": "string"}}
	require.NoError(t, ValidateValue(schema, []any{"a"}))
	err := ValidateValue(schema, []any{1})
	require.ErrorContains(t, err, "at /0")
}

func TestValidateParams(t *testing.T) {
	rs := &Ruleset{Rules: map[string]*Rule{
		"a": {ID: "a", Parameters: []Parameter{{Name: "names", Schema: map[string]any{"type": "array", "items": map[string]any{"type": "string"}}}}},
		"b": {ID: "b"},
	}}
	require.NoError(t, rs.ValidateParams(nil))
	require.NoError(t, rs.ValidateParams(map[string]map[string]any{"a": {"names": []any{"x"}}}))
	for _, tt := range []struct {
		ps   map[string]map[string]any
		want string
	}{
		{map[string]map[string]any{"c": {"x": 1}}, `unknown rule "c" (valid: a, b)`},
		{map[string]map[string]any{"a": {"name": 1}}, `rule a has no parameter "name" (valid: names)`},
		{map[string]map[string]any{"b": {"x": 1}}, `rule b has no parameter "x" (it has none)`},
		{map[string]map[string]any{"a": {"names": "x"}}, `a.names: value "x" does not match its schema: at /: `},
	} {
		err := rs.ValidateParams(tt.ps)
		require.ErrorContains(t, err, tt.want)
		require.True(t, errors.Is(err, ErrParams))
	}
}
