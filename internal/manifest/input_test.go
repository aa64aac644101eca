package manifest

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/text/encoding/unicode"
)

// utf16 encodes s as UTF-16 with a byte order mark.
func utf16(t *testing.T, s string, e unicode.Endianness) []byte {
	t.Helper()
	b, err := unicode.UTF16(e, unicode.UseBOM).NewEncoder().Bytes([]byte(s))
	require.NoError(t, err)
	return b
}

// encodingInput mixes YAML documents, comments, an empty document, a List, a
// syntax error and a document that is not an object, with CRLF line ends in
// one variant: the accounting and the lines must not depend on the encoding.
const encodingInput = `# header comment: é ü 😀
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations: {note: "café"}
spec:
  template:
    spec:
      containers:
      - name: a
        securityContext:
          windowsOptions:
            hostProcess: true
---
# only a comment
---
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Pod, metadata: {name: p}}
- 42
---
kind: x
a: b: c
---
- not an object of any kind
`

// TestEncodings: UTF-16LE and UTF-16BE with a byte order mark (and UTF-8 with
// one) give the documents, objects, errors and lines of the UTF-8 file, as
// kubectl's BOMOverride decoder does.
func TestEncodings(t *testing.T) {
	for _, eol := range []string{"\n", "\r\n"} {
		text := strings.ReplaceAll(encodingInput, "\n", eol)
		want, err := ReadBytes("f.yaml", []byte(text), Options{})
		require.NoError(t, err)
		require.Equal(t, []string{
			"0/-1@2 apps/v1/Deployment/web",
			"1/0@21 v1/Pod/p",
			"1/1@22 !f.yaml:22: list item is a number, not a Kubernetes object",
			"2/-1@24 !f.yaml:25: yaml: line 2: mapping values are not allowed in this context",
			"3/-1@27 !f.yaml:27: document is a YAML sequence, not a Kubernetes object",
		}, summary(want), "the UTF-8 baseline")
		for name, data := range map[string][]byte{
			"UTF-8 BOM":    append([]byte("\uFEFF"), text...),
			"UTF-16LE BOM": utf16(t, text, unicode.LittleEndian),
			"UTF-16BE BOM": utf16(t, text, unicode.BigEndian),
		} {
			t.Run(name+"/"+map[string]string{"\n": "LF", "\r\n": "CRLF"}[eol], func(t *testing.T) {
				got, err := ReadBytes("f.yaml", data, Options{})
				require.NoError(t, err)
				require.Equal(t, summary(want), summary(got))
				for i := range want {
					assert.Equal(t, want[i].Object, got[i].Object, "document %d", i)
				}
				path := "spec.template.spec.containers[0].securityContext.windowsOptions.hostProcess"
				assert.Equal(t, 14, got[0].FieldLine(path))
				assert.Equal(t, "café", get(t, got[0].Object, "metadata", "annotations", "note"))
				// Streaming in small reads (a BOM or a UTF-16 unit cut across reads) reads the same.
				stream, err := ReadFile("-", iotest.OneByteReader(strings.NewReader(string(data))), Options{})
				require.NoError(t, err)
				assert.Equal(t, summary(want), strings.Split(strings.ReplaceAll(strings.Join(summary(stream), "\n"), "<stdin>", "f.yaml"), "\n"))
			})
		}
	}
	json16 := utf16(t, jsonA+"\n"+jsonB+"\n", unicode.LittleEndian)
	docs, err := ReadBytes("f.json", json16, Options{})
	require.NoError(t, err)
	require.Equal(t, []string{"0/-1@1 v1/Pod/a", "1/-1@2 v1/Pod/b"}, summary(docs), "a UTF-16 JSON stream")
}

// TestInvalidUTF8: without a byte order mark, kubectl replaces each invalid
// UTF-8 sequence with U+FFFD: harmless in a comment, U+FFFD in a value. After a
// UTF-8 byte order mark nothing is replaced and YAML rejects it.
func TestInvalidUTF8(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
		x    any // value of "x" in the first document, when it has one
	}{
		{"in a comment", "# caf\xe9 \xff\xfe\n" + podA + "x: 1 # \xc3\n", []string{"0/-1@2 v1/Pod/a"}, json.Number("1")},
		{"in a comment-only document", "# \xff\n---\n" + podA, []string{"0/-1@3 v1/Pod/a"}, nil},
		{"in a value", podA + "x: caf\xe9\n", []string{"0/-1@1 v1/Pod/a"}, "caf\uFFFD"},
		{"truncated sequence at the end", podA + "x: caf\xc3", []string{"0/-1@1 v1/Pod/a"}, "caf\uFFFD"},
		{"in a JSON string", `{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"}, "x": "caf` + "\xe9" + `"}`, []string{"0/-1@1 v1/Pod/a"}, "caf\uFFFD"},
		{"in a value after a UTF-8 BOM", "\uFEFF" + podA + "x: caf\xe9\n",
			[]string{"0/-1@1 !f.yaml:1: yaml: incomplete UTF-8 octet sequence"}, nil},
		{"in a comment-only document after a UTF-8 BOM", "\uFEFF" + podA + "---\n# caf\xe9\n",
			[]string{"0/-1@1 v1/Pod/a", "1/-1@5 !f.yaml:5: invalid UTF-8 in a file that starts with a UTF-8 byte order mark, " +
				"which kubectl's YAML parser rejects: save the file as UTF-8, or remove the byte order mark"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs := mustRead(t, tt.in, Options{})
			require.Equal(t, tt.want, summary(docs))
			if tt.x != nil {
				assert.Equal(t, tt.x, docs[0].Object["x"])
			}
		})
	}
}

// TestNumbers: kubectl decodes an integer that fits int64 as int64 and any
// other number as float64, refusing the document when it is out of float64
// range. In YAML such a scalar is a string to yaml.v2.
func TestNumbers(t *testing.T) {
	const head = `{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"}, `
	tests := []struct {
		name string
		in   string
		want []string
		x    any
	}{
		{"JSON 1e400", head + `"x": 1e400}`, []string{"0/-1@1 !f.yaml:1: " + outOfRange("x", "1e400", "")}, nil},
		{"JSON -1e400 on its line", head + "\n\"spec\": {\"a\": [1,\n  -1E400]}}\n" + jsonB,
			[]string{"0/-1@1 !f.yaml:3: " + outOfRange("spec.a[1]", "-1E400", ""), "1/-1@4 v1/Pod/b"}, nil},
		{"JSON several, the first by path", head + `"z": 1e999, "b": {"c.d": 2e999}, "y": 3e999}`,
			[]string{`0/-1@1 !f.yaml:1: ` + outOfRange(`b["c.d"]`, "2e999", " (and 2 more)")}, nil},
		{"JSON in a List item", `{"apiVersion": "v1", "kind": "List", "items": [` + "\n" + `{"apiVersion": "v1", "kind": "Pod", "x": 1e309}]}`,
			[]string{"0/-1@1 !f.yaml:2: " + outOfRange("items[0].x", "1e309", "")}, nil},
		{"JSON largest float64", head + `"x": 1.7976931348623157e308}`, []string{"0/-1@1 v1/Pod/a"}, json.Number("1.7976931348623157e308")},
		{"JSON underflow is zero", head + `"x": 1e-400}`, []string{"0/-1@1 v1/Pod/a"}, json.Number("1e-400")},
		{"JSON integer beyond int64", head + `"x": 99999999999999999999}`, []string{"0/-1@1 v1/Pod/a"}, json.Number("99999999999999999999")},
		{"YAML 1e400 is a string", podA + "x: 1e400\n", []string{"0/-1@1 v1/Pod/a"}, "1e400"},
		{"YAML integer beyond int64", podA + "x: 99999999999999999999\n", []string{"0/-1@1 v1/Pod/a"}, json.Number("100000000000000000000")},
		{"YAML flow JSON after a YAML document", podA + "---\n" + head + `"x": 1e400}` + "\n", []string{"0/-1@1 v1/Pod/a", "1/-1@5 v1/Pod/a"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs := mustRead(t, tt.in, Options{})
			require.Equal(t, tt.want, summary(docs))
			if tt.x != nil {
				assert.Equal(t, tt.x, docs[0].Object["x"])
			}
			for _, d := range docs {
				if d.Err != nil && strings.Contains(d.Err.Error(), "out of range") {
					assert.ErrorIs(t, d.Err, ErrSyntax)
				}
			}
		})
	}
}

func outOfRange(path, n, more string) string {
	return path + ": number " + n + " is out of range: kubectl cannot decode it as a float64 and refuses the document" + more +
		"; write a number within ±1.8e308, or quote it to make it a string"
}

// tree creates files (name → content) and symbolic links (name → "-> target") under dir.
func tree(t *testing.T, dir string, entries map[string]string) {
	t.Helper()
	for name, content := range entries {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o700))
		switch {
		case strings.HasPrefix(content, "-> "):
			require.NoError(t, os.Symlink(strings.TrimPrefix(content, "-> "), p))
		case content == "/":
			require.NoError(t, os.MkdirAll(p, 0o700))
		default:
			require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
		}
	}
}

// expanded renders inputs relative to dir (whose real path is real): "path"
// or "path !error".
func expanded(dir, real string, inputs []Input) []string {
	out := []string{}
	for _, in := range inputs {
		s := strings.TrimPrefix(in.Path, dir+string(filepath.Separator))
		switch {
		case in.Chart:
			s += " (chart)"
		case in.Kustomization:
			s += " (kustomization)"
		}
		if in.Err != nil {
			msg := strings.ReplaceAll(in.Err.Error(), real+string(filepath.Separator), "")
			s += " !" + strings.ReplaceAll(msg, dir+string(filepath.Separator), "")
		}
		out = append(out, filepath.ToSlash(s))
	}
	return out
}

func TestExpand(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symbolic links need privileges on Windows")
	}
	notFound := "cannot read: no such file or directory; check the path (a shell pattern that matches no file is passed as is)"
	tests := []struct {
		name  string
		tree  map[string]string
		args  []string // relative to the tree; "-" as is
		want  []string
		errIs error // the error of the first error input
	}{
		{name: "files, directories and stdin, each on its own",
			tree: map[string]string{"b.yaml": "", "a.yml": "", "c.json": "", "d.txt": "", "sub/z.yaml": "", "sub/deep/y.YAML": "",
				"sub/deep/x.yaml": "", ".hidden.yaml": "", "e.yaml.bak": "", "dir.yaml/": "/", "sub.yaml": ""},
			args: []string{"d.txt", ".", "-"},
			want: []string{"d.txt", ".hidden.yaml", "a.yml", "b.yaml", "c.json", "sub.yaml", "sub/deep/x.yaml", "sub/z.yaml", "-"}},
		{name: "a missing path among good ones",
			tree:  map[string]string{"a.yaml": "", "d/b.yaml": ""},
			args:  []string{"a.yaml", "missing.yaml", "d"},
			want:  []string{"a.yaml", "missing.yaml !missing.yaml: " + notFound, "d/b.yaml"},
			errIs: fs.ErrNotExist},
		{name: "an argument that is a link to a directory",
			tree: map[string]string{"real/a.yaml": "", "real/sub/b.json": "", "link": "-> real"},
			args: []string{"link"},
			want: []string{"link/a.yaml", "link/sub/b.json"}},
		{name: "links inside a directory: files by the link's name, directories walked",
			tree: map[string]string{"d/a.yaml": "", "other/t.yaml": "", "other/t.txt": "", "ext/e.yaml": "",
				"d/l.yaml": "-> ../other/t.txt", "d/l.txt": "-> ../other/t.yaml", "d/ext": "-> ../ext"},
			args: []string{"d"},
			want: []string{"d/a.yaml", "d/ext/e.yaml", "d/l.yaml"}},
		{name: "a loop is an error, the rest is read",
			tree: map[string]string{"d/a.yaml": "", "d/sub/b.yaml": "", "d/sub/up": "-> ..", "d/self": "-> ."},
			args: []string{"d"},
			want: []string{"d/a.yaml",
				"d/self !d/self: symbolic link loop: the link leads to " + "d, which contains it, and is not followed: remove the link, or pass the directories it should add as arguments",
				"d/sub/b.yaml",
				"d/sub/up !d/sub/up: symbolic link loop: the link leads to " + "d, which contains it, and is not followed: remove the link, or pass the directories it should add as arguments"}},
		{name: "a loop through another link",
			tree: map[string]string{"d/a.yaml": "", "d/out": "-> ../x", "x/back": "-> ../d", "x/b.yaml": ""},
			args: []string{"d"},
			want: []string{"d/a.yaml", "d/out/b.yaml",
				"d/out/back !d/out/back: symbolic link loop: the link leads to " + "d, which contains it, and is not followed: remove the link, or pass the directories it should add as arguments"}},
		{name: "a directory reached twice is read once, under its real path",
			tree: map[string]string{"d/a-link": "-> z", "d/b-link": "-> z", "d/z/x.yaml": ""},
			args: []string{"d"},
			want: []string{"d/z/x.yaml"}},
		{name: "a dangling link named like a manifest is an error, others are ignored",
			tree:  map[string]string{"d/a.yaml": "", "d/gone.yaml": "-> nowhere.yaml", "d/gone": "-> nowhere"},
			args:  []string{"d"},
			want:  []string{"d/a.yaml", "d/gone.yaml !d/gone.yaml: cannot read: symbolic link to nowhere.yaml: no such file or directory; check the path (a shell pattern that matches no file is passed as is)"},
			errIs: fs.ErrNotExist},
		{name: "charts and kustomizations are one input each, not walked",
			tree: map[string]string{"c/Chart.yaml": "", "c/templates/ds.yaml": "", "c/values.yaml": "", "k/kustomization.yaml": "",
				"k/patch.yaml": "", "k/sub/x.yaml": "", "k2/Kustomization": "", "k3/kustomization.yml": "", "k4/kustomization.json": "", "k4/a.yaml": "",
				"both/Chart.yaml": "", "both/kustomization.yaml": "", "plain/a.yaml": ""},
			args: []string{"."},
			want: []string{"both (chart)", "c (chart)", "k (kustomization)", "k2 (kustomization)", "k3 (kustomization)",
				"k4/a.yaml", "k4/kustomization.json", "plain/a.yaml"}},
		{name: "a file named inside a chart or a kustomization is its chart or kustomization, once",
			tree: map[string]string{"c/Chart.yaml": "", "c/templates/ds.yaml": "", "c/templates/sub/cm.yaml": "", "c/templates/_h.tpl": "",
				"c/values.yaml": "", "c/crds/crd.yaml": "", "o/Chart.yaml": "", "o/charts/in/Chart.yaml": "", "o/charts/in/templates/a.yaml": "",
				"notachart/templates/a.yaml": "", "k/kustomization.yaml": "", "k/patch.yaml": "", "k/res/ds.yaml": "", "k/kustomization.yaml.bak": "",
				"k/inner/Kustomization": "", "k/inner/x.yaml": "", "plain/a.yaml": ""},
			args: []string{"c/templates/ds.yaml", "c/values.yaml", "c/templates/sub/cm.yaml", "c/templates/_h.tpl", "c/crds/crd.yaml",
				"o/charts/in/templates/a.yaml", "notachart/templates/a.yaml", "k/patch.yaml", "k/res/ds.yaml", "k/kustomization.yaml",
				"k/inner/x.yaml", "plain/a.yaml"},
			want: []string{"c (chart)", "o (chart)", "notachart/templates/a.yaml", "k (kustomization)", "k/inner (kustomization)", "plain/a.yaml"}},
		{name: "an empty directory adds nothing",
			tree: map[string]string{"d/": "/", "d/notes.txt": ""},
			args: []string{"d"},
			want: []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tree(t, dir, tt.tree)
			real, err := filepath.EvalSymlinks(dir)
			require.NoError(t, err)
			var args []string
			for _, a := range tt.args {
				if a != "-" {
					a = filepath.Join(dir, a)
				}
				args = append(args, a)
			}
			got := Expand(args)
			assert.Equal(t, tt.want, expanded(dir, real, got))
			for _, in := range got {
				assert.Contains(t, args, in.Arg, "Arg is the argument")
				if in.Err != nil {
					var pe *Error
					require.True(t, errors.As(in.Err, &pe))
					assert.Equal(t, in.Path, pe.File)
					if tt.errIs != nil {
						assert.ErrorIs(t, in.Err, tt.errIs)
					}
				}
			}
		})
	}
}

// TestExpandUnreadableDirectory: a directory that cannot be listed is an error
// for that directory; its siblings are still read.
func TestExpandUnreadableDirectory(t *testing.T) {
	if runtime.GOOS == "windows" || os.Geteuid() == 0 {
		t.Skip("needs POSIX permissions and a user other than root")
	}
	dir := t.TempDir()
	tree(t, dir, map[string]string{"a.yaml": "", "locked/b.yaml": "", "z/c.yaml": ""})
	require.NoError(t, os.Chmod(filepath.Join(dir, "locked"), 0))
	t.Cleanup(func() { _ = os.Chmod(filepath.Join(dir, "locked"), 0o700) })
	got := Expand([]string{dir})
	assert.Equal(t, []string{"a.yaml", "locked !locked: cannot read: permission denied; give the user running hpguard read access, or leave the path out", "z/c.yaml"}, expanded(dir, dir, got))
	assert.ErrorIs(t, got[1].Err, fs.ErrPermission)
}

// TestExpandNoRender: with NoRender, kustomizations are walked and named files are files; charts
// found while walking stay charts (their templates are not YAML).
func TestExpandNoRender(t *testing.T) {
	dir := t.TempDir()
	tree(t, dir, map[string]string{"c/Chart.yaml": "", "c/templates/ds.yaml": "", "k/kustomization.yaml": "", "k/patch.yaml": "", "k/sub/x.yaml": ""})
	real, err := filepath.EvalSymlinks(dir)
	require.NoError(t, err)
	opts := ExpandOptions{NoRender: true}
	assert.Equal(t, []string{"c (chart)", "k/kustomization.yaml", "k/patch.yaml", "k/sub/x.yaml"}, expanded(dir, real, ExpandWith([]string{dir}, opts)))
	named := []string{filepath.Join(dir, "c", "templates", "ds.yaml"), filepath.Join(dir, "k", "patch.yaml")}
	assert.Equal(t, []string{"c/templates/ds.yaml", "k/patch.yaml"}, expanded(dir, real, ExpandWith(named, opts)))
	assert.Equal(t, []string{"c (chart)", "k (kustomization)"}, expanded(dir, real, ExpandWith(named, ExpandOptions{})))
}
