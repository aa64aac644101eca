package golden_test

import (
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/hpguard/hpguard/internal/golden"
	"github.com/hpguard/hpguard/internal/workload"
)

func TestLoadCommitted(t *testing.T) {
	cases, err := golden.Load(os.DirFS(filepath.Join("..", "..", filepath.FromSlash(golden.Dir))))
	require.NoError(t, err)
	kinds := map[string]bool{}
	for _, c := range cases {
		require.NotEmpty(t, c.Object, c.Name)
		require.Equal(t, c.Kind, c.Object["kind"], c.Name)
		require.Equal(t, c.Allowed, len(c.Expect) == 0, c.Name)
		kinds[c.Kind] = true
	}
	require.Len(t, kinds, len(workload.Kinds))
}

func TestLoadErrors(t *testing.T) {
	_, err := golden.Load(fstest.MapFS{})
	require.ErrorContains(t, err, "cases.json")
	_, err = golden.Load(fstest.MapFS{"cases.json": {Data: []byte("[]")}})
	require.ErrorContains(t, err, "lists no case")
	index := []byte(`[{"name": "r/allowed/v-pod", "rule": "r", "file": "elsewhere/v-pod.yaml", "expect": []}]`)
	_, err = golden.Load(fstest.MapFS{"cases.json": {Data: index}})
	require.ErrorContains(t, err, "is not under tests/golden")
	index = []byte(`[{"name": "r/allowed/v-pod", "rule": "r", "file": "tests/golden/r/allowed/v-pod.yaml", "expect": []}]`)
	_, err = golden.Load(fstest.MapFS{"cases.json": {Data: index}})
	require.ErrorContains(t, err, "r/allowed/v-pod")
	cases, err := golden.Load(fstest.MapFS{"cases.json": {Data: index}, "r/allowed/v-pod.yaml": {Data: []byte("# c\nkind: Pod\n")}})
	require.NoError(t, err)
	require.Equal(t, map[string]any{"kind": "Pod"}, cases[0].Object)
}
