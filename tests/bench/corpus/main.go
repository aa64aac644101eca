//go:build bench

// Command corpus writes a benchmark corpus of N pods as one multi-document file (pods.yaml), as a
// directory of one file per pod (pods/), as a JSON List (pods.json) and with the rules each pod
// must trip under the hostprocess profile (expected.json). Two kinds:
//
//   - mixed: a third valid HostProcess pods, a third HostProcess pods with one mistake each, a
//     third ordinary Linux pods;
//
//   - heavy (findings-heavy): nine in ten pods are HostProcess pods with three or four mistakes
//     each (deny and warn rules), one in ten a Linux pod.
//
//     go run ./tests/bench/corpus -kind heavy -pods 10000 -seed 1 -out /tmp/corpus
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// mistake breaks a valid HostProcess pod and names the rules that must report it.
type mistake struct {
	rules []string
	apply func(spec, meta map[string]any)
}

func sc(spec map[string]any) map[string]any {
	return spec["securityContext"].(map[string]any)["windowsOptions"].(map[string]any)
}

var mistakes = []mistake{
	{[]string{"host-network-required"}, func(s, _ map[string]any) { delete(s, "hostNetwork") }},
	{[]string{"run-as-user-name-required"}, func(s, _ map[string]any) { delete(sc(s), "runAsUserName") }},
	{[]string{"run-as-user-name-allowed"}, func(s, _ map[string]any) { sc(s)["runAsUserName"] = "Administrators" }},
	{[]string{"run-as-user-name-allowed", "run-as-user-name-format"}, func(s, _ map[string]any) { sc(s)["runAsUserName"] = "NT AUTHORITY/SYSTEM" }},
	{[]string{"least-privilege-account"}, func(s, _ map[string]any) { sc(s)["runAsUserName"] = `NT AUTHORITY\SYSTEM` }},
	{[]string{"run-as-non-root-not-true"}, func(s, _ map[string]any) {
		s["securityContext"].(map[string]any)["runAsNonRoot"] = true
	}},
	{[]string{"windows-node-targeting"}, func(s, _ map[string]any) { delete(s, "nodeSelector") }},
	{[]string{"hostprocess-all-containers", "hostprocess-values-agree"}, func(s, _ map[string]any) {
		// a sidecar that opts out while the others inherit hostProcess: true
		s["containers"] = append(s["containers"].([]any), map[string]any{
			"name": "sidecar", "image": "registry.example.com/sidecar:1.0",
			"resources":       map[string]any{"limits": map[string]any{"cpu": "50m", "memory": "32Mi"}},
			"securityContext": map[string]any{"windowsOptions": map[string]any{"hostProcess": false}},
		})
	}},
	{[]string{"no-named-pipe-or-socket-mounts"}, func(s, _ map[string]any) {
		s["volumes"] = []any{map[string]any{"name": "pipe", "hostPath": map[string]any{"path": `\\.\pipe\containerd-containerd`}}}
	}},
	{[]string{"no-inherit-user-annotation"}, func(_, m map[string]any) {
		m["annotations"] = map[string]any{"microsoft.com/hostprocess-inherit-user": "true"}
	}},
	{[]string{"resource-limits-set"}, func(s, _ map[string]any) {
		delete(s["containers"].([]any)[0].(map[string]any), "resources")
	}},
	{[]string{"os-not-linux"}, func(s, _ map[string]any) { s["os"] = map[string]any{"name": "Windows"} }},
	{[]string{"field-types", "host-network-required"}, func(s, _ map[string]any) { s["hostNetwork"] = "true" }},
}

var accounts = []string{`NT AUTHORITY\LocalService`, `NT AUTHORITY\NetworkService`, `NT AUTHORITY\Local service`}

// pod is pod number n of the mixed corpus; its name is numbered by i when given.
func pod(n int, rng *rand.Rand, i ...int) (map[string]any, []string) {
	name := fmt.Sprintf("pod-%05d", n)
	if len(i) > 0 {
		name = fmt.Sprintf("pod-%05d", i[0])
	}
	meta := map[string]any{"name": name, "namespace": fmt.Sprintf("ns-%d", rng.IntN(20)), "labels": map[string]any{"app": name}}
	containers := []any{}
	nc := 1 + rng.IntN(2)
	for c := 0; c < nc; c++ {
		containers = append(containers, map[string]any{
			"name":      fmt.Sprintf("c%d", c),
			"image":     fmt.Sprintf("registry.example.com/team-%d/app:%d.%d", rng.IntN(9), rng.IntN(5), rng.IntN(20)),
			"command":   []any{"cmd.exe", "/c", "run.cmd"},
			"resources": map[string]any{"limits": map[string]any{"cpu": "200m", "memory": "128Mi"}},
		})
	}
	spec := map[string]any{"containers": containers}
	obj := map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}
	switch n % 3 {
	case 2: // an ordinary Linux pod
		spec["nodeSelector"] = map[string]any{"kubernetes.io/os": "linux"}
		return obj, nil
	}
	spec["hostNetwork"] = true
	spec["nodeSelector"] = map[string]any{"kubernetes.io/os": "windows"}
	spec["securityContext"] = map[string]any{"windowsOptions": map[string]any{"hostProcess": true, "runAsUserName": accounts[rng.IntN(len(accounts))]}}
	if n%3 == 0 {
		return obj, nil
	}
	m := mistakes[(n/3)%len(mistakes)]
	m.apply(spec, meta)
	return obj, m.rules
}

// groups are mistakes that can be combined in one pod: a heavy pod takes at most one mistake of
// each group, so that the rules each pod trips stay the union of its mistakes' rules.
var groups = [][]int{
	{0, 12},      // hostNetwork: unset, or the string "true"
	{1, 2, 3, 4}, // runAsUserName: unset, a group, a malformed name, SYSTEM (warn)
	{5},          // runAsNonRoot
	{6},          // nodeSelector
	{7},          // a sidecar that opts out
	{8},          // a named pipe mount
	{9},          // the inherit-user annotation (warn)
	{10},         // no resource limits (warn)
	{11},         // os.name
}

// heavyPod is a pod of the findings-heavy corpus: a HostProcess pod with three or four mistakes
// from distinct groups, or (one in ten) a Linux pod.
func heavyPod(i int, rng *rand.Rand) (map[string]any, []string) {
	if i%10 == 9 {
		return pod(2, rng, i) // a Linux pod
	}
	obj, _ := pod(0, rng, i) // a valid HostProcess pod
	spec := obj["spec"].(map[string]any)
	meta := obj["metadata"].(map[string]any)
	var rules []string
	for _, g := range rng.Perm(len(groups))[:3+rng.IntN(2)] {
		m := mistakes[groups[g][rng.IntN(len(groups[g]))]]
		m.apply(spec, meta)
		rules = append(rules, m.rules...)
	}
	return obj, rules
}

func main() {
	kind := flag.String("kind", "mixed", "corpus kind: mixed or heavy (findings-heavy)")
	pods := flag.Int("pods", 10000, "number of pods")
	seed := flag.Uint64("seed", 1, "random seed")
	out := flag.String("out", "", "output directory")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "corpus: -out is required")
		os.Exit(2)
	}
	gen := map[string]func(int, *rand.Rand) (map[string]any, []string){
		"mixed": func(i int, rng *rand.Rand) (map[string]any, []string) { return pod(i, rng) },
		"heavy": heavyPod,
	}[*kind]
	if gen == nil {
		fmt.Fprintf(os.Stderr, "corpus: unknown -kind %q (valid: mixed, heavy)\n", *kind)
		os.Exit(2)
	}
	if err := write(gen, *pods, *seed, *out); err != nil {
		fmt.Fprintln(os.Stderr, "corpus:", err)
		os.Exit(1)
	}
}

func write(gen func(int, *rand.Rand) (map[string]any, []string), n int, seed uint64, out string) error {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	dir := filepath.Join(out, "pods")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var multi strings.Builder
	var items []any
	expected := map[string][]string{}
	for i := 0; i < n; i++ {
		obj, rules := gen(i, rng)
		y, err := yaml.Marshal(obj)
		if err != nil {
			return err
		}
		if i > 0 {
			multi.WriteString("---\n")
		}
		multi.Write(y)
		name := obj["metadata"].(map[string]any)["name"].(string)
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), y, 0o644); err != nil {
			return err
		}
		items = append(items, obj)
		sort.Strings(rules)
		if rules == nil {
			rules = []string{}
		}
		expected[name] = rules
	}
	if err := os.WriteFile(filepath.Join(out, "pods.yaml"), []byte(multi.String()), 0o644); err != nil {
		return err
	}
	list, err := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "List", "items": items})
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "pods.json"), list, 0o644); err != nil {
		return err
	}
	exp, err := json.MarshalIndent(expected, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, "expected.json"), exp, 0o644)
}
