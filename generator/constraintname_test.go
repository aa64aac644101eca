package generator

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestConstraintNameFitsKubernetes(t *testing.T) {
	short := "run-as-user-name-allowed-listed-local-group"
	require.Equal(t, short, constraintName(short))
	a := constraintName("hostprocess-images-from-our-registry-exempt-service-account-alias-name-empty")
	b := constraintName("hostprocess-images-from-our-registry-exempt-service-account-alias-other")
	require.LessOrEqual(t, len(a), 63)
	require.Regexp(t, `^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`, a)
	require.NotEqual(t, a, b)
	require.Equal(t, a, constraintName("hostprocess-images-from-our-registry-exempt-service-account-alias-name-empty"))
}
