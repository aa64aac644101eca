package manifest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	yamlv2 "go.yaml.in/yaml/v2"
)

// summary renders documents compactly: "index/item@line apiVersion/kind/name"
// or "index/item@line !error".
func summary(docs []Document) []string {
	out := []string{}
	for _, d := range docs {
		s := fmt.Sprintf("%d/%d@%d ", d.Index, d.Item, d.Line)
		switch {
		case d.Err != nil:
			s += "!" + d.Err.Error()
		case d.NonKubernetes != "":
			s += "~" + d.NonKubernetes
		default:
			s += d.APIVersion() + "/" + d.Kind() + "/" + d.Name()
		}
		out = append(out, s)
	}
	return out
}

func mustRead(t *testing.T, in string, opts Options) []Document {
	t.Helper()
	docs, err := ReadBytes("f.yaml", []byte(in), opts)
	if err != nil {
		t.Fatalf("ReadBytes: %v", err)
	}
	return docs
}

// get walks a decoded object along map keys and slice indexes.
func get(t *testing.T, v any, path ...any) any {
	t.Helper()
	for _, p := range path {
		switch p := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("at %q: %T is not a map", p, v)
			}
			v = m[p]
		case int:
			s, ok := v.([]any)
			if !ok || p >= len(s) {
				t.Fatalf("at [%d]: %v is not a long enough slice", p, v)
			}
			v = s[p]
		}
	}
	return v
}

const podA = "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n"
const podB = "apiVersion: v1\nkind: Pod\nmetadata: {name: b}\n"
const jsonA = `{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"}}`
const jsonB = `{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "b"}}`

const multiDoc = `# leading comment
---
# doc comment
apiVersion: v1
kind: Pod
metadata: {name: a}
---
---   # empty document
# only a comment
---

apiVersion: apps/v1
kind: Deployment
metadata: {name: b}
--- # trailing separator
`

func TestReadBytes(t *testing.T) {
	tests := []struct {
		name string
		in   string
		opts Options
		want []string
	}{
		{"single", podA, Options{}, []string{"0/-1@1 v1/Pod/a"}},
		{"leading blank and comment lines", "\n\n# c\n" + podA, Options{}, []string{"0/-1@4 v1/Pod/a"}},
		{"multi-document, comments, empty documents", multiDoc, Options{},
			[]string{"0/-1@4 v1/Pod/a", "1/-1@12 apps/v1/Deployment/b"}},
		{"CRLF", strings.ReplaceAll(multiDoc, "\n", "\r\n"), Options{},
			[]string{"0/-1@4 v1/Pod/a", "1/-1@12 apps/v1/Deployment/b"}},
		{"BOM YAML", "\uFEFF# c\n" + podA, Options{}, []string{"0/-1@2 v1/Pod/a"}},
		{"BOM JSON (with an escape YAML rejects)", "\uFEFF" + `{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a\/b"}}`, Options{},
			[]string{"0/-1@1 v1/Pod/a/b"}},
		{"JSON object", "\n{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"Pod\",\n  \"metadata\": {\"name\": \"a\"}\n}\n", Options{},
			[]string{"0/-1@2 v1/Pod/a"}},
		{"JSON CRLF", "\r\n{\r\n  \"apiVersion\": \"v1\",\r\n  \"kind\": \"Pod\"}\r\n\r\n" + jsonB, Options{},
			[]string{"0/-1@2 v1/Pod/", "1/-1@6 v1/Pod/b"}},
		{"JSON stream", jsonA + "\n{\n" + jsonB[1:] + "\n\n" + jsonA + " " + jsonB + "\n", Options{},
			[]string{"0/-1@1 v1/Pod/a", "1/-1@2 v1/Pod/b", "2/-1@5 v1/Pod/a", "3/-1@5 v1/Pod/b"}},
		{"JSON then YAML, like kubectl", jsonA + "\n---\n" + podB, Options{},
			[]string{"0/-1@1 v1/Pod/a", "1/-1@3 v1/Pod/b"}},
		{"JSON stream fails after two values", jsonA + "\n" + jsonB + "\n\nkind: Pod\n", Options{},
			[]string{"0/-1@1 v1/Pod/a", "1/-1@2 v1/Pod/b",
				"2/-1@4 !f.yaml:4: invalid character 'k' looking for beginning of value"}},
		{"JSON array value", jsonA + "\n[{\"kind\": \"Pod\"}]\n", Options{},
			[]string{"0/-1@1 v1/Pod/a", "1/-1@2 !f.yaml:2: document is a JSON array, not a Kubernetes object"}},
		{"flow mapping is YAML, not JSON", "{apiVersion: v1, kind: Pod,\n metadata: {name: a}}\n", Options{},
			[]string{"0/-1@1 v1/Pod/a"}},
		{"List with item lines", `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: a}
-
  apiVersion: v1
  kind: Pod
  metadata: {name: b}
- 42
`, Options{}, []string{"0/0@4 v1/Pod/a", "0/1@8 v1/Pod/b",
			"0/2@11 !f.yaml:11: list item is a number, not a Kubernetes object"}},
		{"typed list items inherit kind and apiVersion", `apiVersion: v1
kind: PodList
items:
- metadata: {name: a}
- {kind: Service, apiVersion: v1, metadata: {name: b}}
- {kind: Pod, metadata: {name: c}}
`, Options{}, []string{"0/0@4 v1/Pod/a", "0/1@5 v1/Service/b", `0/2@6 !f.yaml:6: missing "apiVersion"`}},
		{"kind List items do not inherit", "apiVersion: v1\nkind: List\nitems:\n- metadata: {name: a}\n", Options{},
			[]string{`0/0@4 !f.yaml:4: missing "apiVersion"`}},
		{"any kind with items is a list to kubectl", "apiVersion: v1\nkind: Pod\nmetadata: {name: outer}\nitems:\n- metadata: {name: inner}\n", Options{},
			[]string{"0/0@5 v1/Pod/inner"}},
		{"empty list still counts as a document", "apiVersion: v1\nkind: List\nitems: []\n---\n" + podA, Options{},
			[]string{"1/-1@5 v1/Pod/a"}},
		{"bad lists", `apiVersion: v1
kind: ConfigMapList
---
apiVersion: v1
kind: List
items: null
---
apiVersion: v1
kind: List
items: {a: 1}
---
kind: List
items: []
---
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: List, items: []}
`, Options{}, []string{
			"0/-1@1 !f.yaml:1: ConfigMapList has no items array",
			"1/-1@4 !f.yaml:4: items is null, not an array",
			"2/-1@8 !f.yaml:8: items is a mapping, not an array",
			`3/-1@12 !f.yaml:12: missing "apiVersion"`,
			"4/0@18 !f.yaml:18: list item is itself a list (nested lists are not supported)"}},
		{"not objects", "hello\n---\n- a\n---\nnull\n---\n~\n---\ntrue\n---\n{}\n", Options{}, []string{
			"0/-1@1 ~not a Kubernetes object: a string, and it names neither apiVersion nor kind",
			"1/-1@3 ~not a Kubernetes object: a YAML sequence, and it names neither apiVersion nor kind",
			"2/-1@5 ~not a Kubernetes object: null, and it names neither apiVersion nor kind",
			"3/-1@7 ~not a Kubernetes object: null, and it names neither apiVersion nor kind",
			"4/-1@9 ~not a Kubernetes object: a boolean, and it names neither apiVersion nor kind",
			"5/-1@11 ~not a Kubernetes object: neither apiVersion nor kind"}},
		{"not objects that look like manifests", "- apiVersion: v1\n  kind: Pod\n---\nnull # kind: Pod\n---\n[{\"kind\": \"Pod\"}]\n---\nKind\n", Options{}, []string{
			"0/-1@1 !f.yaml:1: document is a YAML sequence, not a Kubernetes object",
			"1/-1@4 !f.yaml:4: document is null, not a Kubernetes object",
			"2/-1@6 !f.yaml:6: document is a YAML sequence, not a Kubernetes object",
			"3/-1@8 !f.yaml:8: document is a string, not a Kubernetes object"}},
		{"syntax errors", "{\n  // a tsconfig.json\n  \"compilerOptions\": {\"strict\": true,},\n}\n", Options{}, []string{
			"0/-1@1 ~not a Kubernetes object: not valid YAML or JSON (line 2: did not find expected ',' or '}'), and it names neither apiVersion nor kind"}},
		{"syntax errors in manifests", "apiVersion: v1\nkind: Pod\nmetadata: [\n---\nmetadata: {name: x}\nspec: [\n# kind: Pod\n", Options{}, []string{
			"0/-1@1 !f.yaml:3: yaml: line 3: did not find expected node content",
			"1/-1@5 !f.yaml:7: yaml: line 3: did not find expected node content"}},
		{"mappings without apiVersion and kind are not Kubernetes objects", "name: ci\non: [push]\njobs: {build: {runs-on: x}}\n---\nitems: [{a: 1}]\n---\n" +
			"metadata: {name: x}\nspec: {containers: []}\n---\nkind: null\n---\napiVersion: \"\"\nmetadata: {name: x}\n", Options{}, []string{
			"0/-1@1 ~not a Kubernetes object: neither apiVersion nor kind",
			"1/-1@5 ~not a Kubernetes object: neither apiVersion nor kind",
			"2/-1@7 ~not a Kubernetes object: neither apiVersion nor kind",
			`3/-1@10 !f.yaml:10: missing "apiVersion"`,
			`4/-1@12 !f.yaml:12: missing "apiVersion"`}},
		{"kind and apiVersion", "kind: Pod\n---\napiVersion: v1\n---\napiVersion: v1\nkind: 5\n---\napiVersion: v1\nkind: \"\"\n---\napiVersion: [v1]\nkind: Pod\n", Options{}, []string{
			`0/-1@1 !f.yaml:1: missing "apiVersion"`,
			`1/-1@3 !f.yaml:3: missing "kind"`,
			`2/-1@5 !f.yaml:5: "kind" is a number, not a string`,
			`3/-1@8 !f.yaml:8: missing "kind"`,
			`4/-1@11 !f.yaml:11: "apiVersion" is a sequence, not a string`}},
		{"syntax error does not stop other documents", podA + "---\n# comment\napiVersion: v1\nkind: Pod\nmetadata:\n  name: b: c\n---\n" + podB, Options{},
			[]string{"0/-1@1 v1/Pod/a",
				"1/-1@6 !f.yaml:9: yaml: line 5: mapping values are not allowed in this context",
				"2/-1@11 v1/Pod/b"}},
		{"invalid separator line", podA + "--- !!map\n" + podB + "----\n" + podA, Options{}, []string{
			"0/-1@1 v1/Pod/a",
			`1/-1@4 !f.yaml:4: invalid document separator "--- !!map"`,
			"2/-1@5 v1/Pod/b",
			`3/-1@8 !f.yaml:8: invalid document separator "----"`,
			"4/-1@9 v1/Pod/a"}},
		{"invalid separator first", "--- x\n" + podA + "---\n--- |\n" + podB, Options{}, []string{
			`0/-1@1 !f.yaml:1: invalid document separator "--- x"`,
			"1/-1@2 v1/Pod/a",
			`2/-1@6 !f.yaml:6: invalid document separator "--- |"`,
			"3/-1@7 v1/Pod/b"}},
		{"content after document end marker", podA + "...\n" + podB, Options{},
			[]string{`0/-1@1 !f.yaml:1: content after document end marker "..."`}},
		{"document end marker and comment", podA + "...\n# c\n", Options{}, []string{"0/-1@1 v1/Pod/a"}},
		{"unknown anchor", podA + "x: *nope\n", Options{},
			[]string{"0/-1@1 !f.yaml:1: yaml: unknown anchor 'nope' referenced"}},
		{"alias cycle", podA + "x: &a [*a]\n", Options{},
			[]string{"0/-1@1 !f.yaml:1: yaml: anchor 'a' value contains itself"}},
		{"not representable in JSON", podA + "x: .inf\n", Options{},
			[]string{"0/-1@1 !f.yaml:1: json: unsupported value: +Inf"}},
		{"yaml.v3 cannot parse, yaml.v2 can", "|\n:  \"&", Options{},
			[]string{"0/-1@1 ~not a Kubernetes object: a string, and it names neither apiVersion nor kind"}},
		{"document too large", podA + "---\ndata: " + strings.Repeat("x", 200) + "\n---\n" + podB, Options{MaxDocumentBytes: 100},
			[]string{"0/-1@1 v1/Pod/a", "1/-1@5 !f.yaml:5: document larger than 100 bytes", "2/-1@7 v1/Pod/b"}},
		{"line longer than the read buffer", podA + "---\ndata: " + strings.Repeat("x", 200<<10) + "\n---\n" + podB, Options{MaxDocumentBytes: 100 << 10},
			[]string{"0/-1@1 v1/Pod/a", "1/-1@5 !f.yaml:5: document larger than 102400 bytes", "2/-1@7 v1/Pod/b"}},
		{"JSON value too large", jsonA + "\n" + `{"data": "` + strings.Repeat("x", 300<<10) + `"}` + "\n" + jsonB, Options{MaxDocumentBytes: 100 << 10},
			[]string{"0/-1@1 v1/Pod/a", "1/-1@2 !f.yaml:2: document larger than 102400 bytes"}},
		{"JSON value just over the limit", `{"data": "` + strings.Repeat("x", 150) + `"}` + "\n" + jsonB, Options{MaxDocumentBytes: 100},
			[]string{"0/-1@1 !f.yaml:1: document larger than 100 bytes", "1/-1@2 v1/Pod/b"}},
		{"depth limit", "{apiVersion: v1, kind: Pod, spec: {a: {b: 1}}}\n---\n{apiVersion: v1, kind: Pod, spec: {a: {b: {c: 1}}}}\n", Options{MaxDepth: 3},
			[]string{"0/-1@1 v1/Pod/", "1/-1@3 !f.yaml:3: nesting deeper than 3 levels"}},
		{"JSON depth limit", `{"apiVersion": "v1", "kind": "Pod", "spec": {"a": [1]}}` + "\n" + `{"apiVersion": "v1", "kind": "Pod", "spec": {"a": [[1]]}}`, Options{MaxDepth: 3},
			[]string{"0/-1@1 v1/Pod/", "1/-1@2 !f.yaml:2: nesting deeper than 3 levels"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := summary(mustRead(t, tt.in, tt.opts))
			if !slices.Equal(got, tt.want) {
				t.Errorf("got\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(tt.want, "\n\t"))
			}
		})
	}
}

func TestEmptyInputs(t *testing.T) {
	for _, in := range []string{"", "\n\n", "   ", "\r\n", "# c\n", "---\n", "---\n---\n# x\n---", "\uFEFF", "\uFEFF---\n", "  \n  # c\n"} {
		docs, err := ReadBytes("f.yaml", []byte(in), Options{})
		if err != nil || len(docs) != 0 {
			t.Errorf("%q: got %v, %v; want no documents and no error", in, summary(docs), err)
		}
	}
}

func TestErrorClasses(t *testing.T) {
	tests := []struct {
		in   string
		opts Options
		want error
	}{
		{podA + "a: b: c\n", Options{}, ErrSyntax},
		{podA + "--- x\n", Options{}, ErrSyntax},
		{"- kind: Pod\n", Options{}, ErrNotObject},
		{"null # not a kind\n", Options{}, ErrNotObject},
		{"apiVersion: v1\nkind: List\nitems: 5\n", Options{}, ErrNotObject},
		{"apiVersion: v1\nkind: List\nitems: [5]\n", Options{}, ErrNotObject},
		{"kind: Pod\n", Options{}, ErrMissingField},
		{podA + "x: " + strings.Repeat("y", 200) + "\n", Options{MaxDocumentBytes: 100}, ErrTooLarge},
		{podA + "x: [[[[1]]]]\n", Options{MaxDepth: 4}, ErrTooDeep},
	}
	for _, tt := range tests {
		docs := mustRead(t, tt.in, tt.opts)
		var got error
		for _, d := range docs {
			if d.Err != nil {
				got = d.Err
			}
		}
		var pe *Error
		if !errors.Is(got, tt.want) || !errors.As(got, &pe) || pe.File != "f.yaml" || pe.Line < 1 {
			t.Errorf("%.40q: got %v, want an *Error with a line matching %v", tt.in, got, tt.want)
		}
		for _, other := range []error{ErrSyntax, ErrNotObject, ErrMissingField, ErrTooLarge, ErrTooDeep, ErrBinary} {
			if other != tt.want && errors.Is(got, other) {
				t.Errorf("%.40q: %v also matches %v", tt.in, got, other)
			}
		}
	}
}

func TestLinesLFAndCRLF(t *testing.T) {
	const in = `# header
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations:
    a.b/c: "x"
spec:
  template:
    spec:
      containers:
      - name: a
        image: a
      - name: b
        securityContext:
          windowsOptions:
            hostProcess: true
---
` + podB
	paths := []struct {
		path string
		want int
	}{
		{"", 3},
		{"kind", 4},
		{"spec.template.spec.containers[1].securityContext.windowsOptions.hostProcess", 18},
		{"spec.template.spec.containers[1]", 15},
		{"spec.template.spec.containers[0].image", 14},
		{"spec.template.spec.containers[1].securityContext.runAsUser", 16},
		{"spec.template.spec.containers[5].name", 12},
		{"spec.template.spec.containers.name", 12},
		{`metadata.annotations["a.b/c"]`, 8},
		{`metadata.annotations['a.b/c']`, 8},
		{`metadata.annotations[a.b/c]`, 8},
		{"metadata.annotations.a.b/c", 7},
		{`metadata.annotations["a.b/c`, 7},
		{"nope.deeper", 3},
	}
	for _, eol := range []string{"\n", "\r\n"} {
		docs := mustRead(t, strings.ReplaceAll(in, "\n", eol), Options{})
		if got := summary(docs); !slices.Equal(got, []string{"0/-1@3 apps/v1/Deployment/web", "1/-1@20 v1/Pod/b"}) {
			t.Fatalf("%q: got %v", eol, got)
		}
		for _, p := range paths {
			if got := docs[0].FieldLine(p.path); got != p.want {
				t.Errorf("%q: FieldLine(%q) = %d, want %d", eol, p.path, got, p.want)
			}
		}
		if got := docs[1].FieldLine("metadata.name"); got != 22 {
			t.Errorf("%q: second document FieldLine(metadata.name) = %d, want 22", eol, got)
		}
		if got := get(t, docs[0].Object, "metadata", "annotations", "a.b/c"); got != "x" {
			t.Errorf("%q: annotation = %q, want %q (no CR)", eol, got, "x")
		}
	}
	docs := mustRead(t, "apiVersion: v1\r\nkind: ConfigMap\r\ndata:\r\n  s: |\r\n    line1\r\n    line2\r\n", Options{})
	if got := get(t, docs[0].Object, "data", "s"); got != "line1\nline2\n" {
		t.Errorf("CRLF block scalar = %q", got)
	}
}

func TestFieldLineJSONAndLists(t *testing.T) {
	const js = `{
  "apiVersion": "v1",
  "kind": "Pod",
  "metadata": {"name": "a", "annotations": {"a.b/c": "x"}},
  "spec": {
    "hostNetwork": false,
    "containers": [
      {"name": "a"},
      {
        "name": "b",
        "securityContext": {"windowsOptions": {"hostProcess": true}}
      }
    ],
    "hostNetwork": true
  }
}`
	docs := mustRead(t, "\n"+js, Options{})
	d := docs[0]
	for path, want := range map[string]int{
		"": 2, "spec": 6, "spec.hostNetwork": 15, // duplicate key: last wins, as decoded
		"spec.containers[1].securityContext.windowsOptions.hostProcess": 12,
		"spec.containers[1]": 10, `metadata.annotations["a.b/c"]`: 5, "spec.containers[1].nope": 10,
	} {
		if got := d.FieldLine(path); got != want {
			t.Errorf("JSON FieldLine(%q) = %d, want %d", path, got, want)
		}
	}
	if get(t, d.Object, "spec", "hostNetwork") != true {
		t.Errorf("JSON duplicate key: want the last value")
	}

	const list = `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: a}
- apiVersion: v1
  kind: Pod
  metadata: {name: b}
  spec:
    hostNetwork: true
`
	for _, in := range []string{list, strings.ReplaceAll(list, "\n", "\r\n")} {
		docs = mustRead(t, in, Options{})
		if len(docs) != 2 {
			t.Fatalf("got %v", summary(docs))
		}
		if got := docs[1].FieldLine("spec.hostNetwork"); got != 11 {
			t.Errorf("list item FieldLine(spec.hostNetwork) = %d, want 11", got)
		}
		if got := docs[0].FieldLine("metadata.name"); got != 6 {
			t.Errorf("list item FieldLine(metadata.name) = %d, want 6", got)
		}
		if got := docs[1].FieldLine("items"); got != 7 {
			t.Errorf("list item paths are relative to the item: FieldLine(items) = %d, want 7", got)
		}
	}

	docs = mustRead(t, `{"apiVersion": "v1", "kind": "List", "items": [`+"\n"+jsonA+",\n\n"+`{"metadata": {"name": "x"}}]}`, Options{})
	if got := summary(docs); !slices.Equal(got, []string{"0/0@2 v1/Pod/a", `0/1@4 !f.yaml:4: missing "apiVersion"`}) {
		t.Errorf("JSON list: got %v", got)
	}
}

func TestFieldLineConcurrent(t *testing.T) {
	docs := mustRead(t, "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  spec:\n    hostNetwork: true\n- "+jsonB+"\n", Options{})
	done := make(chan int)
	for i := range 8 {
		go func() { done <- docs[i%2].FieldLine("spec.hostNetwork") }()
	}
	for range 8 {
		if got := <-done; got != 7 && got != 8 {
			t.Errorf("FieldLine = %d, want 7 or 8", got)
		}
	}
}

func TestAnchorsAndMergeKeys(t *testing.T) {
	const in = `apiVersion: apps/v1
kind: Deployment
metadata: {name: a}
x-base: &base
  windowsOptions:
    hostProcess: true
  runAsNonRoot: false
spec:
  template:
    spec:
      containers:
      - name: c
        securityContext:
          <<: *base
          runAsNonRoot: true
      - name: d
        securityContext:
          runAsNonRoot: true
          <<: *base
      - name: e
        securityContext:
          <<: [{runAsNonRoot: true}, *base]
`
	d := mustRead(t, in, Options{})[0]
	if d.Err != nil {
		t.Fatal(d.Err)
	}
	containers := get(t, d.Object, "spec", "template", "spec", "containers")
	if got := get(t, containers, 0, "securityContext", "windowsOptions", "hostProcess"); got != true {
		t.Errorf("hostProcess through <<: *base = %v, want true", got)
	}
	// yaml.v2 applies merge entries in order: an explicit key after the merge
	// wins, a merge after an explicit key overrides it; in a merged sequence
	// the first map wins.
	for i, want := range []bool{true, false, true} {
		if got := get(t, containers, i, "securityContext", "runAsNonRoot"); got != want {
			t.Errorf("containers[%d].runAsNonRoot = %v, want %v", i, got, want)
		}
	}
	for path, want := range map[string]int{
		"spec.template.spec.containers[0].securityContext.windowsOptions.hostProcess": 6,
		"spec.template.spec.containers[0].securityContext.runAsNonRoot":               15,
		"spec.template.spec.containers[1].securityContext.runAsNonRoot":               7,
		"spec.template.spec.containers[2].securityContext.runAsNonRoot":               22,
		"spec.template.spec.containers[2].securityContext.windowsOptions":             5,
	} {
		if got := d.FieldLine(path); got != want {
			t.Errorf("FieldLine(%q) = %d, want %d", path, got, want)
		}
	}
}

func TestDuplicateKeys(t *testing.T) {
	// sigs.k8s.io/yaml YAMLToJSON uses yaml.v2 non-strict Unmarshal: a
	// duplicate key silently replaces the earlier value (setMapIndex only
	// complains in strict mode). kubectl apply decodes the same way, so the
	// cluster gets the last value; hpguard must evaluate that one.
	d := mustRead(t, "apiVersion: v1\nkind: ConfigMap\nkind: Pod\nmetadata: {name: a}\nspec:\n  hostNetwork: false\n  hostNetwork: true\n", Options{})[0]
	if d.Kind() != "Pod" || get(t, d.Object, "spec", "hostNetwork") != true {
		t.Errorf("got kind %q, hostNetwork %v; want the last values", d.Kind(), get(t, d.Object, "spec", "hostNetwork"))
	}
	if got := d.FieldLine("spec.hostNetwork"); got != 7 {
		t.Errorf("FieldLine = %d, want 7 (the last duplicate)", got)
	}
}

func TestYAMLScalars(t *testing.T) {
	// YAML 1.1 as implemented by yaml.v2 (what sigs.k8s.io/yaml and kubectl use).
	d := mustRead(t, podA+`spec:
  a: yes
  b: on
  c: Off
  d: y
  e: NO
  f: "true"
  g: 'yes'
  h: True
  i: tRue
  j: 010
  k: 0x1F
  l: 1.5
  m: 12345678901234567890
  on: key
  n: key
  hostProcess: "true"
`, Options{})[0]
	want := map[string]any{
		"a": true, "b": true, "c": false, "d": true, "e": false, "f": "true", "g": "yes", "h": true,
		"i": "tRue", "j": json.Number("8"), "k": json.Number("31"), "l": json.Number("1.5"),
		"m": json.Number("12345678901234567890"), "true": "key", "false": "key", "hostProcess": "true",
	}
	if got := get(t, d.Object, "spec"); !reflect.DeepEqual(got, want) {
		t.Errorf("got  %#v\nwant %#v", got, want)
	}
}

func TestJSONEscapes(t *testing.T) {
	// \/ and surrogate pairs are valid JSON that yaml.v2 rejects: JSON must go
	// through encoding/json like kubectl does.
	in := `{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "caf\u00e9"}, "s": "\ud83d\ude00 \/ \"q\" \\ \t", "n": 1.0}`
	d := mustRead(t, in, Options{})[0]
	if d.Err != nil {
		t.Fatal(d.Err)
	}
	if d.Name() != "café" || d.Object["s"] != "😀 / \"q\" \\ \t" || d.Object["n"] != json.Number("1.0") {
		t.Errorf("got %#v", d.Object)
	}
}

func TestAliasBombs(t *testing.T) {
	laughs := podA + "a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n"
	for c := 'b'; c <= 'i'; c++ {
		p := string(c - 1)
		laughs += fmt.Sprintf("%c: &%c [*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s]\n", c, c, p, p, p, p, p, p, p, p, p)
	}
	// Few aliases of a long string: yaml.v2's alias ratio check lets this
	// through, but the JSON conversion would write 32 MiB.
	long := podA + "a: &a \"" + strings.Repeat("x", 1<<20) + "\"\nb: [" + strings.Repeat("*a,", 32) + "]\n" +
		"c: [" + strings.Repeat("1,", 1000) + "]\n"
	merges := podA + "a0: &a0 {k: v}\n"
	for i := 1; i <= 30; i++ {
		merges += fmt.Sprintf("a%d: &a%d {<<: [*a%d, *a%d, *a%d, *a%d]}\n", i, i, i-1, i-1, i-1, i-1)
	}
	for name, in := range map[string]string{"billion laughs": laughs, "long string": long, "merge keys": merges} {
		docs := mustRead(t, in, Options{})
		if len(docs) != 1 || !errors.Is(docs[0].Err, ErrTooLarge) || !strings.Contains(docs[0].Err.Error(), "aliases") {
			t.Errorf("%s: got %v, want an alias expansion error", name, summary(docs))
		}
	}
	// Without aliases the estimate stays within the text: a document of short
	// scalars just under the limit that has an anchor is not an alias bomb.
	var big strings.Builder
	big.WriteString(podA + "x: &x [")
	for big.Len() < 1<<20-10 {
		big.WriteString("1,")
	}
	big.WriteString("1]\n")
	if docs := mustRead(t, big.String(), Options{MaxDocumentBytes: 1 << 20}); len(docs) != 1 || docs[0].Err != nil {
		t.Errorf("big document with an anchor: got %v", summary(docs))
	}
	// The yaml.v2 fallback guard (used when yaml.v3 cannot parse a document).
	var v any
	if err := yamlv2.Unmarshal([]byte(long), &v); err != nil {
		t.Fatal(err)
	}
	size, deep := 0, 0
	measure(v, 1, &size, &deep, DefaultOptions())
	if size <= DefaultOptions().MaxDocumentBytes || deep != 2 {
		t.Errorf("measure: size %d, depth %d; want > limit, 2", size, deep)
	}
}

func TestDeepNesting(t *testing.T) {
	tests := map[string]string{
		"flow 10000":   strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
		"flow 100000":  strings.Repeat("[", 100000) + strings.Repeat("]", 100000),
		"JSON 1001":    strings.Repeat(`{"a":`, 1001) + "1" + strings.Repeat("}", 1001),
		"JSON 100000":  strings.Repeat(`{"a":`, 100000) + "1" + strings.Repeat("}", 100000),
		"aliases 1001": "a0: &a0 [1]\n",
	}
	var block strings.Builder
	for i := range 1001 {
		block.WriteString(strings.Repeat(" ", i) + "a:\n")
	}
	tests["block 1001"] = block.String()
	for i := 1; i <= 1000; i++ {
		tests["aliases 1001"] += fmt.Sprintf("a%d: &a%d [*a%d]\n", i, i, i-1)
	}
	for name, in := range tests {
		docs := mustRead(t, in, Options{})
		if len(docs) != 1 || docs[0].Err == nil {
			t.Errorf("%s: got %v, want one error document", name, summary(docs))
		} else if !strings.HasSuffix(name, "100000") && !errors.Is(docs[0].Err, ErrTooDeep) {
			t.Errorf("%s: got %v, want ErrTooDeep", name, docs[0].Err)
		}
	}
	ok := strings.Repeat(`{"a":`, 999) + "1" + strings.Repeat("}", 999)
	if docs := mustRead(t, ok, Options{}); len(docs) != 1 || errors.Is(docs[0].Err, ErrTooDeep) {
		t.Errorf("depth 999: got %v", summary(docs))
	}
}

const (
	nulAdvice   = "kubectl reads UTF-8 text, or UTF-16 with a byte order mark (a UTF-16 or UTF-32 file without one has NUL bytes): save the file as UTF-8"
	utf32Advice = "kubectl reads UTF-8, or UTF-16 with a byte order mark; save the file as UTF-8"
)

func TestFileErrors(t *testing.T) {
	tests := []struct {
		in   string
		opts Options
		want error
		msg  string
	}{
		{"apiVersion: v1\x00", Options{}, ErrBinary, "x.yaml:1: binary file: NUL byte on line 1; " + nulAdvice},
		{podA + "x: \x00\n", Options{}, ErrBinary, "x.yaml:4: binary file: NUL byte on line 4; " + nulAdvice},
		{"a\x00p\x00i\x00", Options{}, ErrBinary, "x.yaml:1: binary file: NUL byte on line 1; " + nulAdvice},
		{"\xff\xfea\x00\n\x00\x00\x00", Options{}, ErrBinary, "x.yaml:2: binary file: NUL byte on line 2; " + nulAdvice},
		{jsonA + "\n\n\x00", Options{}, ErrBinary, "x.yaml:3: binary file: NUL byte on line 3; " + nulAdvice},
		{"\xff\xfe\x00\x00a\x00\x00\x00", Options{}, ErrBinary, "x.yaml: UTF-32 text (byte order mark FF FE 00 00): " + utf32Advice},
		{"\x00\x00\xfe\xff\x00\x00\x00a", Options{}, ErrBinary, "x.yaml: UTF-32 text (byte order mark 00 00 FE FF): " + utf32Advice},
		{podA, Options{MaxFileBytes: 10}, ErrTooLarge, "x.yaml: file larger than 10 bytes"},
	}
	for _, tt := range tests {
		docs, err := ReadBytes("x.yaml", []byte(tt.in), tt.opts)
		var pe *Error
		if docs != nil || !errors.Is(err, tt.want) || !errors.As(err, &pe) || err.Error() != tt.msg {
			t.Errorf("%.30q: got %v, %v; want %q", tt.in, summary(docs), err, tt.msg)
		}
	}
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.yaml")
	if err := os.WriteFile(path, []byte(podA+"---\n"+podB), 0o600); err != nil {
		t.Fatal(err)
	}
	docs, err := ReadFile(path, nil, Options{})
	if got := summary(docs); err != nil || !slices.Equal(got, []string{"0/-1@1 v1/Pod/a", "1/-1@5 v1/Pod/b"}) || docs[0].File != path {
		t.Errorf("got %v, %v", got, err)
	}
	if _, err := ReadFile(path, nil, Options{MaxFileBytes: 10}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("too large: got %v", err)
	}
	if _, err := ReadFile(filepath.Join(dir, "missing.yaml"), nil, Options{}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing: got %v", err)
	}
	// Multi-byte characters split across reads are valid; stdin is "<stdin>".
	docs, err = ReadFile("-", iotest.OneByteReader(strings.NewReader("\uFEFF"+podA+"x: café 😀\n")), Options{})
	if err != nil || len(docs) != 1 || docs[0].File != "<stdin>" || docs[0].Object["x"] != "café 😀" {
		t.Errorf("stdin: got %v, %v", summary(docs), err)
	}
	// Invalid UTF-8 is replaced with U+FFFD, like kubectl does, also across reads.
	docs, err = ReadFile("-", iotest.OneByteReader(strings.NewReader(podA+"x: \xe2\x82A\n")), Options{})
	if err != nil || len(docs) != 1 || docs[0].Object["x"] != "\uFFFDA" {
		t.Errorf("stdin invalid UTF-8 across reads: got %v, %v", summary(docs), err)
	}
	ioErr := errors.New("disk on fire")
	if _, err = ReadFile("-", iotest.TimeoutReader(strings.NewReader(podA)), Options{}); !errors.Is(err, iotest.ErrTimeout) {
		t.Errorf("I/O error: got %v", err)
	}
	if _, err = ReadFile("-", io.MultiReader(strings.NewReader(jsonA), iotest.ErrReader(ioErr)), Options{}); !errors.Is(err, ioErr) {
		t.Errorf("I/O error in JSON: got %v", err)
	}
	if _, err = ReadFile("-", nil, Options{}); err == nil {
		t.Errorf("nil stdin: no error")
	}
	docs, err = ReadFile("-", iotest.OneByteReader(strings.NewReader(podA+"x: caf\xc3")), Options{})
	if err != nil || len(docs) != 1 || docs[0].Object["x"] != "caf\uFFFD" {
		t.Errorf("stdin truncated UTF-8: got %v, %v", summary(docs), err)
	}
	var pe *Error
	if _, err := ReadFile(filepath.Join(dir, "missing.yaml"), nil, Options{}); !errors.As(err, &pe) || pe.File != filepath.Join(dir, "missing.yaml") {
		t.Errorf("missing: got %v, want an *Error for the path", err)
	}
}

func TestDefaultsAndAccessors(t *testing.T) {
	if o := DefaultOptions(); o.MaxFileBytes != 256<<20 || o.MaxDocumentBytes != 16<<20 || o.MaxDepth != 1000 {
		t.Errorf("DefaultOptions = %+v", o)
	}
	d := mustRead(t, "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  namespace: ns\nspec: {replicas: 3}\n", Options{})[0]
	if d.APIVersion() != "v1" || d.Kind() != "Pod" || d.Name() != "a" || d.Namespace() != "ns" {
		t.Errorf("accessors: %q %q %q %q", d.APIVersion(), d.Kind(), d.Name(), d.Namespace())
	}
	if got := get(t, d.Object, "spec", "replicas"); got != json.Number("3") {
		t.Errorf("numbers: got %#v, want json.Number", got)
	}
	var empty Document
	if empty.Kind() != "" || empty.Name() != "" || empty.FieldLine("a.b") != 0 {
		t.Errorf("zero Document accessors")
	}
}

// FuzzReadBytes checks that no input makes ReadBytes panic or hang, and that
// every Document has exactly one of Object and Err, or is not a Kubernetes object. Seeds are in
// testdata/fuzz/FuzzReadBytes.
func FuzzReadBytes(f *testing.F) {
	f.Add([]byte(multiDoc))
	f.Add([]byte(jsonA + "\n" + jsonB))
	f.Fuzz(func(t *testing.T, data []byte) {
		docs, err := ReadBytes("fuzz.yaml", data, Options{MaxDocumentBytes: 64 << 10, MaxDepth: 50})
		var pe *Error
		if err != nil {
			if docs != nil || !errors.As(err, &pe) {
				t.Fatalf("file error %v with %d documents", err, len(docs))
			}
			return
		}
		for i, d := range docs {
			if (d.Object == nil) == (d.Err == nil) && (d.NonKubernetes == "" || d.Err != nil) {
				t.Fatalf("document %d: Object %v, Err %v", i, d.Object, d.Err)
			}
			if d.Err != nil && !errors.As(d.Err, &pe) {
				t.Fatalf("document %d: Err %v is not an *Error", i, d.Err)
			}
			if d.Line < 1 || (i > 0 && (d.Index < docs[i-1].Index || d.Line < docs[i-1].Line)) {
				t.Fatalf("document %d: index %d line %d out of order", i, d.Index, d.Line)
			}
			for _, p := range []string{"", "metadata.name", "spec.template.spec.containers[0].securityContext", `a["b"][0]['c']`, "items[0]"} {
				if l := d.FieldLine(p); l < 1 {
					t.Fatalf("document %d: FieldLine(%q) = %d", i, p, l)
				}
			}
		}
	})
}
