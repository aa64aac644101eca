package render

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/yaml"

	"github.com/hpguard/hpguard/internal/manifest"
)

// fixtures is tests/render, the charts and kustomizations of the command's tests too.
var fixtures = filepath.Join("..", "..", "tests", "render")

// docs decodes a YAML stream into its objects.
func docs(t *testing.T, data []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, d := range docSeparator.Split(string(data), -1) {
		var m map[string]any
		require.NoError(t, yaml.Unmarshal([]byte(d), &m), d)
		if m != nil {
			out = append(out, m)
		}
	}
	return out
}

// kinds is "Kind namespace/name" of each object.
func kinds(objs []map[string]any) []string {
	var out []string
	for _, o := range objs {
		md, _ := o["metadata"].(map[string]any)
		ns, _ := md["namespace"].(string)
		name, _ := md["name"].(string)
		out = append(out, o["kind"].(string)+" "+ns+"/"+name)
	}
	return out
}

// write creates files under dir.
func write(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
}

func TestKustomizeOverlay(t *testing.T) {
	dir := filepath.Join(fixtures, "kustomize", "overlays", "prod")
	out, err := Kustomize(dir)
	require.NoError(t, err)
	require.Equal(t, "kustomize build "+dir, out.Name)
	// What `kustomize build` prints: the generated ConfigMap (with its hash suffix) and the
	// DaemonSet in kustomize's default (legacy) order, by kind, with the overlay's prefix and the
	// base's namespace, and the overlay's patch applied.
	objs := docs(t, out.Data)
	require.Equal(t, []string{"ConfigMap node-agents/prod-agent-config-hh5dbd6h54", "DaemonSet node-agents/prod-node-agent"}, kinds(objs))
	require.Contains(t, string(out.Data), "runAsNonRoot: true")
	require.True(t, strings.HasPrefix(string(out.Data), "apiVersion: v1\n"), "the stream starts with the first object, as kustomize build prints it")

	base, err := Kustomize(filepath.Join(fixtures, "kustomize", "base"))
	require.NoError(t, err)
	require.Equal(t, []string{"ConfigMap node-agents/agent-config-hh5dbd6h54", "DaemonSet node-agents/node-agent"}, kinds(docs(t, base.Data)))
	require.NotContains(t, string(base.Data), "runAsNonRoot")
}

func TestKustomizeErrors(t *testing.T) {
	// git is out of reach: a remote reference must be refused before anything would run it.
	t.Setenv("PATH", "")
	tmp := t.TempDir()
	write(t, tmp, map[string]string{
		"empty/README.md":                       "no kustomization here",
		"http/kustomization.yaml":               "resources:\n  - https://example.com/manifests/ds.yaml\n",
		"scp/kustomization.yaml":                "resources:\n  - git@example.com:org/repo.git//deploy\n",
		"component/kustomization.yaml":          "components:\n  - git::https://example.com/org/repo//c\n",
		"patch/kustomization.yaml":              "resources: [ds.yaml]\npatches:\n  - path: https://example.com/patch.yaml\n",
		"patch/ds.yaml":                         "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
		"generator/kustomization.yaml":          "configMapGenerator:\n  - name: a\n    files: [conf=https://example.com/conf]\n",
		"transformer/kustomization.yaml":        "resources: [ds.yaml]\ntransformers: [patch.yaml]\n",
		"transformer/ds.yaml":                   "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
		"transformer/patch.yaml":                "apiVersion: builtin\nkind: PatchTransformer\nmetadata: {name: p}\npath: http://example.com/p.yaml\n",
		"inline/kustomization.yaml":             "resources: [ds.yaml]\ntransformers:\n  - |\n    apiVersion: builtin\n    kind: PatchTransformer\n    metadata: {name: p}\n    path: https://example.com/p.yaml\n",
		"inline/ds.yaml":                        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
		"nested/kustomization.yaml":             "resources: [../nested-base]\n",
		"nested-base/kustomization.yaml":        "resources:\n  - github.com/org/repo/deploy?ref=v1\n",
		"annotations/kustomization.yaml":        "resources: [ds.yaml]\ncommonAnnotations:\n  docs: https://example.com/docs\n",
		"annotations/ds.yaml":                   "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
		"Kustomization-named/Kustomization":     "resources: [ds.yaml]\n",
		"Kustomization-named/ds.yaml":           "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
		"restricted/kustomization.yaml":         "resources: [../outside.yaml]\n",
		"outside.yaml":                          "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
		"file-scheme/kustomization.yaml":        "resources: [file:///tmp/repo]\n",
		"remote-openapi/kustomization.yaml":     "openapi:\n  path: https://example.com/schema.json\n",
		"remote-replacement/kustomization.yaml": "replacements:\n  - path: https://example.com/r.yaml\n",
	})
	for _, dir := range []string{"http", "scp", "component", "patch", "generator", "transformer", "inline", "nested",
		"file-scheme", "remote-openapi", "remote-replacement"} {
		t.Run(dir, func(t *testing.T) {
			_, err := Kustomize(filepath.Join(tmp, dir))
			require.ErrorIs(t, err, ErrRemote)
			require.Contains(t, err.Error(), "offline")
		})
	}
	_, err := Kustomize("github.com/org/repo//deploy?ref=v1")
	require.ErrorIs(t, err, ErrRemote)

	// Not remote: a URL in an annotation value is not a reference.
	out, err := Kustomize(filepath.Join(tmp, "annotations"))
	require.NoError(t, err)
	require.Contains(t, string(out.Data), "docs: https://example.com/docs")
	_, err = Kustomize(filepath.Join(tmp, "Kustomization-named"))
	require.NoError(t, err)

	for dir, want := range map[string]string{
		"empty":      "no kustomization file",
		"missing":    "not a directory",
		"restricted": "is not in or below",
	} {
		_, err := Kustomize(filepath.Join(tmp, dir))
		require.ErrorContains(t, err, want, dir)
		require.NotErrorIs(t, err, ErrRemote)
	}
}

func TestIsRemote(t *testing.T) {
	for s, want := range map[string]bool{
		"github.com/org/repo//deploy?ref=v1": true,
		"GitHub.com:org/repo":                true,
		"git::https://example.com/r":         true,
		"https://example.com/ds.yaml":        true,
		"HTTP://example.com/ds.yaml":         true,
		"ssh://git@example.com/r":            true,
		"git@example.com:org/repo":           true,
		"file:///srv/repo":                   true,
		"../base":                            false,
		"ds.yaml":                            false,
		"overlays/github.com/x":              false,
		"example.com/org/repo":               false, // kustomize needs a scheme or user@ outside github.com
		"":                                   false,
	} {
		require.Equal(t, want, isRemote(s), s)
	}
}

func TestHelmChart(t *testing.T) {
	chart := filepath.Join(fixtures, "chart-hostprocess")
	outs, err := Helm(HelmOptions{Chart: chart})
	require.NoError(t, err)
	// `helm template` renders configmap.yaml and daemonset.yaml; NOTES.txt and the partials of
	// _helpers.tpl are not manifests.
	var names []string
	for _, o := range outs {
		names = append(names, o.Name)
	}
	require.Equal(t, []string{"hostprocess-agent/templates/configmap.yaml", "hostprocess-agent/templates/daemonset.yaml"}, names)
	byPath, err := Helm(HelmOptions{Chart: chart, NameByPath: true})
	require.NoError(t, err)
	require.Equal(t, filepath.Join(chart, "templates", "daemonset.yaml"), byPath[1].Name, "named by the template's file")
	require.Equal(t, outs[1].Data, byPath[1].Data)
	require.Equal(t, []string{"ConfigMap default/release-name-hostprocess-agent"}, kinds(docs(t, outs[0].Data)))
	ds := docs(t, outs[1].Data)
	require.Equal(t, []string{"DaemonSet default/release-name-hostprocess-agent"}, kinds(ds))
	spec := ds[0]["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
	require.Equal(t, true, spec["hostNetwork"])
	require.Equal(t, `NT AUTHORITY\LocalService`, spec["securityContext"].(map[string]any)["windowsOptions"].(map[string]any)["runAsUserName"])
	require.Equal(t, map[string]any{"cpu": "200m", "memory": "128Mi"}, spec["containers"].([]any)[0].(map[string]any)["resources"].(map[string]any)["limits"])

	// Release name and namespace, values files in order, then --set values.
	outs, err = Helm(HelmOptions{Chart: chart, ReleaseName: "agent", Namespace: "kube-system",
		ValuesFiles: []string{filepath.Join(chart, "values-insecure.yaml")}})
	require.NoError(t, err)
	ds = docs(t, outs[1].Data)
	require.Equal(t, []string{"DaemonSet kube-system/agent-hostprocess-agent"}, kinds(ds))
	require.Contains(t, string(outs[1].Data), "hostNetwork: false")
	outs, err = Helm(HelmOptions{Chart: chart, ValuesFiles: []string{filepath.Join(chart, "values-insecure.yaml")},
		SetValues: []string{"hostNetwork=true", `runAsUserName=NT AUTHORITY\\SYSTEM`}}) // \ escapes in --set
	require.NoError(t, err)
	require.Contains(t, string(outs[1].Data), "hostNetwork: true")
	require.Contains(t, string(outs[1].Data), `runAsUserName: "NT AUTHORITY\\SYSTEM"`)
}

func TestHelmErrors(t *testing.T) {
	tmp := t.TempDir()
	write(t, tmp, map[string]string{
		"schema/Chart.yaml":                   "apiVersion: v2\nname: schema\nversion: 0.1.0\n",
		"schema/values.yaml":                  "replicas: 1\n",
		"schema/values.schema.json":           `{"type": "object", "properties": {"replicas": {"type": "integer", "minimum": 1}}}`,
		"schema/templates/cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {n: \"{{ .Values.replicas }}\"}\n",
		"remote-schema/Chart.yaml":            "apiVersion: v2\nname: remote-schema\nversion: 0.1.0\n",
		"remote-schema/values.schema.json":    `{"$ref": "https://example.com/schema.json"}`,
		"remote-schema/templates/a.yaml":      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
		"kube/Chart.yaml":                     "apiVersion: v2\nname: kube\nversion: 0.1.0\nkubeVersion: '<1.20'\n",
		"parent/Chart.yaml":                   "apiVersion: v2\nname: parent\nversion: 0.1.0\ndependencies:\n  - name: sub\n    version: 0.1.0\n",
		"parent/charts/sub/Chart.yaml":        "apiVersion: v2\nname: sub\nversion: 0.1.0\n",
		"parent/charts/sub/templates/ds.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: {{ .Release.Name }}-sub}\n",
		"empty/Chart.yaml":                    "apiVersion: v2\nname: empty\nversion: 0.1.0\n",
		"empty/templates/off.yaml":            "{{- if .Values.on }}\napiVersion: v1\n{{- end }}\n",
	})
	_, err := Helm(HelmOptions{Chart: filepath.Join(fixtures, "chart-missing-dep")})
	require.ErrorContains(t, err, "found in Chart.yaml, but missing in charts/ directory: common")
	require.ErrorContains(t, err, "offline")
	_, err = Helm(HelmOptions{Chart: filepath.Join(fixtures, "chart-invalid")})
	require.ErrorContains(t, err, "invalid/templates/configmap.yaml")
	_, err = Helm(HelmOptions{Chart: filepath.Join(fixtures, "kustomize")})
	require.ErrorContains(t, err, "not a loadable chart")
	_, err = Helm(HelmOptions{Chart: filepath.Join(tmp, "nothing")})
	require.ErrorContains(t, err, "no such file")
	_, err = Helm(HelmOptions{Chart: filepath.Join(fixtures, "chart-hostprocess"), SetValues: []string{"a.b"}})
	require.ErrorContains(t, err, "--set-value")
	_, err = Helm(HelmOptions{Chart: filepath.Join(fixtures, "chart-hostprocess"), ValuesFiles: []string{filepath.Join(tmp, "none.yaml")}})
	require.ErrorContains(t, err, "--values")

	_, err = Helm(HelmOptions{Chart: filepath.Join(tmp, "schema")})
	require.NoError(t, err)
	_, err = Helm(HelmOptions{Chart: filepath.Join(tmp, "schema"), SetValues: []string{"replicas=0"}})
	require.ErrorContains(t, err, "values don't meet the specifications of the schema")
	_, err = Helm(HelmOptions{Chart: filepath.Join(tmp, "remote-schema")})
	require.True(t, errors.Is(err, ErrRemote) || strings.Contains(err.Error(), "offline"), "%v", err)
	_, err = Helm(HelmOptions{Chart: filepath.Join(tmp, "kube")})
	require.ErrorContains(t, err, "incompatible with Kubernetes")

	outs, err := Helm(HelmOptions{Chart: filepath.Join(tmp, "parent")})
	require.NoError(t, err)
	require.Len(t, outs, 1)
	require.Equal(t, "parent/charts/sub/templates/ds.yaml", outs[0].Name)
	outs, err = Helm(HelmOptions{Chart: filepath.Join(tmp, "parent"), NameByPath: true})
	require.NoError(t, err)
	require.Equal(t, filepath.Join(tmp, "parent", "charts", "sub", "templates", "ds.yaml"), outs[0].Name)

	outs, err = Helm(HelmOptions{Chart: filepath.Join(tmp, "empty")})
	require.NoError(t, err)
	require.Empty(t, outs)
}

// TestKustomizationFileNames: the directories hpguard builds while walking are those kustomize
// recognizes as kustomizations.
func TestKustomizationFileNames(t *testing.T) {
	require.Equal(t, konfig.RecognizedKustomizationFileNames(), manifest.KustomizationFiles)
}
