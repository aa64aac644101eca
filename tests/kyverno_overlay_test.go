package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/hpguard/hpguard/internal/engine"
)

// TestKyvernoParametersOverlay builds the kustomize overlay of kyverno/README.md (verbatim) over the
// shipped baseline profile, and evaluates the result with the kyverno engine: the exemptions it sets
// take effect (a HostProcess pod in kube-system, or of an exempted image, is allowed; elsewhere it is
// denied), and the overlay's test operation refuses the patch when hpParams is not at that index.
// With KYVERNO_EVAL (make kyverno-test), Kyverno's engine evaluates the overlay's policies too.
func TestKyvernoParametersOverlay(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "kyverno", "README.md"))
	require.NoError(t, err)
	m := regexp.MustCompile("(?s)```yaml\n(# my-cluster/kustomization.yaml\n.*?)```").FindSubmatch(readme)
	require.NotNil(t, m, "kyverno/README.md: no my-cluster/kustomization.yaml example")
	overlay := string(m[1])

	tmp := t.TempDir()
	require.NoError(t, os.CopyFS(filepath.Join(tmp, "kyverno", "profiles"), os.DirFS(filepath.Join("..", "kyverno", "profiles"))))
	require.NoError(t, os.MkdirAll(filepath.Join(tmp, "my-cluster"), 0o755))
	build := func(kustomization string) ([]byte, error) {
		require.NoError(t, os.WriteFile(filepath.Join(tmp, "my-cluster", "kustomization.yaml"), []byte(kustomization), 0o644))
		res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), filepath.Join(tmp, "my-cluster"))
		if err != nil {
			return nil, err
		}
		return res.AsYaml()
	}
	out, err := build(overlay)
	require.NoError(t, err, "kustomize build of the README's overlay")

	// The built policies as a kyverno/ directory of one profile.
	fsys := fstest.MapFS{}
	for _, doc := range strings.Split(string(out), "\n---\n") {
		var obj struct {
			Metadata struct {
				Annotations map[string]string `json:"annotations"`
			} `json:"metadata"`
		}
		require.NoError(t, yaml.Unmarshal([]byte(doc), &obj))
		rule := obj.Metadata.Annotations["hpguard.dev/rule"]
		require.NotEmpty(t, rule)
		fsys["profiles/baseline/"+rule+".yaml"] = &fstest.MapFile{Data: []byte(doc)}
	}
	require.Len(t, fsys, 2, "the baseline profile's two policies")
	ev, err := engine.LoadKyverno(fsys, "baseline", nil)
	require.NoError(t, err)

	c := loadCases(t)
	var pod map[string]any
	for _, cs := range c {
		if cs.Name == "hostprocess-disallowed/disallowed/true-containers" {
			pod = caseObject(t, cs)
		}
	}
	require.NotNil(t, pod)
	evaluate := func(namespace, image string) int {
		obj := deepCopyMap(pod)
		obj["metadata"].(map[string]any)["namespace"] = namespace
		if image != "" {
			for _, l := range []string{"initContainers", "containers"} {
				for _, ct := range obj["spec"].(map[string]any)[l].([]any) {
					ct.(map[string]any)["image"] = image
				}
			}
		}
		fs, err := ev.Evaluate(context.Background(), obj)
		require.NoError(t, err)
		n := 0
		for _, f := range fs {
			if f.Rule == "hostprocess-disallowed" {
				n++
			}
		}
		return n
	}
	require.Zero(t, evaluate("kube-system", "registry.example.com/agent:v1"), "exempt namespace")
	require.Zero(t, evaluate("hpc", "mcr.microsoft.com/oss/kubernetes/agent:v1"), "exempt image prefix")
	require.Equal(t, 1, evaluate("hpc", "registry.example.com/agent:v1"), "not exempt")

	// Kyverno's engine on the same policies (make kyverno-test).
	if eval := os.Getenv("KYVERNO_EVAL"); eval != "" {
		policies := filepath.Join(tmp, "overlay-policies.yaml")
		require.NoError(t, os.WriteFile(policies, out, 0o644))
		var docs []string
		for i, x := range []struct{ ns, image, want string }{
			{"kube-system", "registry.example.com/agent:v1", "pass"},
			{"hpc", "mcr.microsoft.com/oss/kubernetes/agent:v1", "pass"},
			{"hpc", "registry.example.com/agent:v1", "fail"},
		} {
			obj := deepCopyMap(pod)
			obj["metadata"].(map[string]any)["namespace"] = x.ns
			obj["metadata"].(map[string]any)["name"] = fmt.Sprintf("pod-%d-%s", i, x.want)
			for _, l := range []string{"initContainers", "containers"} {
				for _, ct := range obj["spec"].(map[string]any)[l].([]any) {
					ct.(map[string]any)["image"] = x.image
				}
			}
			b, err := json.Marshal(obj)
			require.NoError(t, err)
			docs = append(docs, string(b))
		}
		resources := filepath.Join(tmp, "overlay-resources.yaml")
		require.NoError(t, os.WriteFile(resources, []byte(strings.Join(docs, "\n---\n")), 0o644))
		abs, err := filepath.Abs(eval)
		require.NoError(t, err)
		stdout, stderr, code, err := runTool("", "", abs, policies, "--resources", resources)
		require.NoError(t, err)
		require.Equal(t, 0, code, stderr)
		seen := 0
		for _, line := range strings.Split(strings.TrimSpace(string(stdout)), "\n") {
			var r struct{ Resource, Policy, Result string }
			require.NoError(t, json.Unmarshal([]byte(line), &r))
			if r.Policy == "hpguard-hostprocess-disallowed" {
				seen++
				require.True(t, strings.HasSuffix(r.Resource, "-"+r.Result), "Kyverno: %s %s", r.Resource, r.Result)
			}
		}
		require.Equal(t, 3, seen)
	}

	// Without the overlay, nothing is exempt.
	shipped, err := engine.LoadKyverno(os.DirFS(filepath.Join("..", "kyverno")), "baseline", nil)
	require.NoError(t, err)
	fs, err := shipped.Evaluate(context.Background(), func() map[string]any {
		obj := deepCopyMap(pod)
		obj["metadata"].(map[string]any)["namespace"] = "kube-system"
		return obj
	}())
	require.NoError(t, err)
	denied := 0
	for _, f := range fs {
		if f.Rule == "hostprocess-disallowed" {
			denied++
		}
	}
	require.Equal(t, 1, denied, "the shipped policy exempts nothing")

	// The test operation guards the index.
	moved := regexp.MustCompile(`/spec/variables/(\d+)/`).ReplaceAllString(overlay, "/spec/variables/0/")
	require.NotEqual(t, overlay, moved)
	_, err = build(moved)
	require.Error(t, err, "a patch at another index must be refused by its test operation")
}

func deepCopyMap(m map[string]any) map[string]any {
	b, err := yaml.Marshal(m)
	if err != nil {
		panic(err)
	}
	var out map[string]any
	if err := yaml.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return out
}

// TestKyvernoProfilesBuild: each profile of kyverno/ builds with kustomize (what `kubectl apply -k`
// runs) into one ValidatingPolicy per rule of the profile, each with the profile's label.
func TestKyvernoProfilesBuild(t *testing.T) {
	pol, err := engine.LoadPolicy(policiesFS())
	require.NoError(t, err)
	for _, prof := range pol.Ruleset.Profiles {
		res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), filepath.Join("..", "kyverno", "profiles", prof.Name))
		require.NoError(t, err, prof.Name)
		var rules []string
		for _, r := range res.Resources() {
			require.Equal(t, "ValidatingPolicy", r.GetKind(), prof.Name)
			require.Equal(t, "policies.kyverno.io/v1", r.GetApiVersion(), prof.Name)
			require.Equal(t, prof.Name, r.GetLabels()["hpguard.dev/profile"])
			rules = append(rules, r.GetAnnotations()["hpguard.dev/rule"])
		}
		var want []string
		for id := range prof.Rules {
			want = append(want, id)
		}
		require.ElementsMatch(t, want, rules, prof.Name)
	}
}
