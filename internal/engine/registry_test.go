package engine_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hpguard/hpguard/gatekeeper"
	"github.com/hpguard/hpguard/internal/engine"
	"github.com/hpguard/hpguard/kyverno"
	"github.com/hpguard/hpguard/policies"
	"github.com/hpguard/hpguard/vap"
)

func TestRegistry(t *testing.T) {
	require.Equal(t, []string{"cel", "gatekeeper", "gatekeeper-combined", "kyverno", "opa"}, engine.Names())
	_, err := engine.Lookup("kubewarden")
	require.EqualError(t, err, `unknown engine "kubewarden" (valid: cel, gatekeeper, gatekeeper-combined, kyverno, opa)`)
	opa, err := engine.Lookup("opa")
	require.NoError(t, err)
	require.Equal(t, "OPA", opa.Title)
	require.Empty(t, opa.Shipped, "opa evaluates the given policy")
}

// TestRegistryValidatesParamsAlike: every engine refuses the same parameters with the same error.
func TestRegistryValidatesParamsAlike(t *testing.T) {
	ctx := context.Background()
	pol, err := engine.LoadPolicy(policies.Rego())
	require.NoError(t, err)
	src := engine.Sources{Policy: pol, Gatekeeper: gatekeeper.FS(), VAP: vap.FS(), Kyverno: kyverno.FS()}
	for _, ps := range []engine.Params{
		{"no-such-rule": {"x": 1}},
		{"hostprocess-disallowed": {"exemptNamespace": []any{"a"}}},
		{"run-as-user-name-allowed": {"allowedLocalGroups": "hpc"}},
	} {
		want := pol.Ruleset.ValidateParams(ps)
		require.Error(t, want)
		for _, name := range engine.Names() {
			_, err := engine.New(ctx, name, src, "baseline", ps)
			require.True(t, errors.Is(err, engine.ErrParams), "%s: %v", name, err)
			require.EqualError(t, err, want.Error(), name)
		}
	}
	ev, err := engine.New(ctx, "gatekeeper", src, "baseline", nil)
	require.NoError(t, err)
	require.NotNil(t, ev)
}
