package manifest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestStreamFileMatchesReadFile: streaming hands over the same documents, in the same order.
func TestStreamFileMatchesReadFile(t *testing.T) {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Pod, metadata: {name: a}}\n- 3\n---\n")
	b.WriteString("- not an object\n---\n")
	for i := 0; i < 50; i++ {
		b.WriteString("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n---\n")
	}
	path := filepath.Join(t.TempDir(), "in.yaml")
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
	want, err := ReadFile(path, nil, DefaultOptions())
	require.NoError(t, err)
	var got []Document
	require.NoError(t, StreamFile(path, nil, DefaultOptions(), func(d Document) { got = append(got, d) }))
	require.Equal(t, len(want), len(got))
	require.Len(t, got, 53)
	for i := range want {
		require.Equal(t, want[i].Index, got[i].Index)
		require.Equal(t, want[i].Item, got[i].Item)
		require.Equal(t, want[i].Line, got[i].Line)
		require.Equal(t, want[i].Object, got[i].Object)
		require.Equal(t, want[i].Err == nil, got[i].Err == nil)
	}
	err = StreamFile(filepath.Join(t.TempDir(), "missing.yaml"), nil, DefaultOptions(), func(Document) {})
	require.Error(t, err)
}

// TestStreamPendingMatchesReadFile: decoding the pending documents in any order gives the same
// documents, one document index per pending.
func TestStreamPendingMatchesReadFile(t *testing.T) {
	for _, content := range []string{
		"apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Pod, metadata: {name: a}}\n- 3\n---\n# only a comment\n---\n- not an object\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: b}\n",
		`{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"}}` + "\n" + `{"apiVersion": "v1", "kind": "List", "items": [{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "b"}}]}`,
	} {
		path := filepath.Join(t.TempDir(), "in.yaml")
		require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
		want, err := ReadFile(path, nil, DefaultOptions())
		require.NoError(t, err)
		var pend []Pending
		require.NoError(t, StreamPending(path, nil, DefaultOptions(), func(p Pending) { pend = append(pend, p) }))
		decoded := make([][]Document, len(pend))
		for i := len(pend) - 1; i >= 0; i-- { // out of order on purpose
			decoded[i] = pend[i]()
		}
		var got []Document
		index := 0
		for _, docs := range decoded {
			for _, d := range docs {
				d.Index = index
				got = append(got, d)
			}
			if len(docs) > 0 {
				index++
			}
		}
		require.Equal(t, len(want), len(got))
		for i := range want {
			require.Equal(t, want[i].Index, got[i].Index, "document %d", i)
			require.Equal(t, want[i].Item, got[i].Item)
			require.Equal(t, want[i].Line, got[i].Line)
			require.Equal(t, want[i].Object, got[i].Object)
			require.Equal(t, want[i].Err == nil, got[i].Err == nil)
		}
	}
}
