package generator

import (
	"encoding/json"
	"fmt"
	"path"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/hpguard/hpguard/generator/spec"
	"github.com/hpguard/hpguard/internal/golden"
	"github.com/hpguard/hpguard/internal/workload"
)

// GoldenDir is where golden cases are written.
const GoldenDir = golden.Dir

// GoldenIndex is the path of the index of every golden case.
const GoldenIndex = GoldenDir + "/" + golden.IndexFile

// goldenImage is the image of the golden manifests' containers: the dedicated HostProcess base image.
const goldenImage = "mcr.microsoft.com/oss/kubernetes/windows-host-process-containers-base-image:v1.0.0"

// Case is a golden case (internal/golden, which loads what Golden writes).
type Case = golden.Case

// Cases builds every golden case of the spec, in rule order.
func Cases(s *spec.Spec) ([]Case, error) {
	var out []Case
	for _, r := range s.Rules {
		for _, group := range []struct {
			allowed bool
			values  []spec.GoldenValue
		}{{true, r.Golden.Allowed}, {false, r.Golden.Disallowed}} {
			for _, v := range group.values {
				levels := v.Levels()
				for _, level := range levels {
					c, err := buildCase(r, v, group.allowed, level, "Pod")
					if err != nil {
						return nil, err
					}
					out = append(out, c)
				}
				kindLevel := ""
				for _, l := range levels {
					if l != spec.LevelEphemeral {
						kindLevel = l
						break
					}
				}
				if kindLevel == "" {
					continue
				}
				for _, kind := range workload.Kinds[1:] {
					c, err := buildCase(r, v, group.allowed, kindLevel, kind.Name)
					if err != nil {
						return nil, err
					}
					out = append(out, c)
				}
			}
		}
	}
	return out, nil
}

func buildCase(r *spec.Rule, v spec.GoldenValue, allowed bool, level, kind string) (Case, error) {
	verdict := "disallowed"
	if allowed {
		verdict = "allowed"
	}
	name := v.Name + "-" + level
	if kind != "Pod" {
		name += "-" + strings.ToLower(kind)
	}
	c := Case{
		Name:    r.ID + "/" + verdict + "/" + name,
		Rule:    r.ID,
		Value:   v.Name,
		Allowed: allowed,
		Level:   level,
		Kind:    kind,
		File:    path.Join(GoldenDir, r.ID, verdict, name+".yaml"),
		Params:  v.Params,
		Expect:  []golden.Expected{},
	}
	podSpec, meta := baseSpec(r.Golden.Base, level)
	podSpec = mergePatch(podSpec, clone(v.PodPatch)).(map[string]any)
	meta = mergePatch(meta, clone(v.MetaPatch)).(map[string]any)
	if level == spec.LevelPod {
		podSpec = mergePatch(podSpec, clone(v.Patch)).(map[string]any)
	} else {
		list, _ := podSpec[level].([]any)
		if len(list) == 0 {
			return c, fmt.Errorf("%s: golden value %q: the pod has no %s to patch", r.File, v.Name, level)
		}
		list[0] = mergePatch(list[0], clone(v.Patch))
	}
	obj, specPrefix, metaPrefix := wrap(kind, podSpec, meta)
	c.Object = obj
	target, targetName := specPrefix, ""
	if level != spec.LevelPod {
		target = fmt.Sprintf("%s.%s[0]", specPrefix, level)
		first, _ := podSpec[level].([]any)[0].(map[string]any)
		targetName, _ = first["name"].(string)
	}
	resolve := func(s string) string {
		return strings.NewReplacer("{target}", target, "{pod}", specPrefix, "{meta}", metaPrefix).Replace(s)
	}
	seen := map[golden.Expected]bool{}
	for _, e := range v.Expect {
		var exps []golden.Expected
		if strings.Contains(e.Field, "{each}") {
			for _, list := range []string{spec.LevelInit, spec.LevelContainer, spec.LevelEphemeral} {
				items, _ := podSpec[list].([]any)
				for i, item := range items {
					m, _ := item.(map[string]any)
					p := fmt.Sprintf("%s.%s[%d]", specPrefix, list, i)
					name, _ := m["name"].(string)
					exps = append(exps, golden.Expected{Field: resolve(strings.ReplaceAll(e.Field, "{each}", p)), Container: name})
				}
			}
		} else {
			ctr := e.Container
			if ctr == "{target}" {
				ctr = targetName
			}
			exps = append(exps, golden.Expected{Field: resolve(e.Field), Container: ctr})
		}
		for _, x := range exps {
			if !seen[x] {
				seen[x] = true
				c.Expect = append(c.Expect, x)
			}
		}
	}
	return c, nil
}

// baseSpec returns the pod spec and pod metadata a rule's golden values are applied to.
func baseSpec(base, level string) (map[string]any, map[string]any) {
	limits := func(cpu, mem string) map[string]any {
		return map[string]any{"limits": map[string]any{"cpu": cpu, "memory": mem}}
	}
	podSpec := map[string]any{
		"nodeSelector": map[string]any{"kubernetes.io/os": "windows"},
		"initContainers": []any{map[string]any{
			"name": "init", "image": goldenImage, "command": []any{"cmd.exe", "/c", "echo init"},
			"resources": limits("100m", "64Mi"),
		}},
		"containers": []any{map[string]any{
			"name": "main", "image": goldenImage, "command": []any{"ping", "-t", "127.0.0.1"},
			"resources": limits("500m", "256Mi"),
		}},
	}
	if base == "hostprocess" {
		podSpec["hostNetwork"] = true
		podSpec["securityContext"] = map[string]any{"windowsOptions": map[string]any{
			"hostProcess":   true,
			"runAsUserName": `NT AUTHORITY\Local service`,
		}}
	}
	if level == spec.LevelEphemeral {
		podSpec["ephemeralContainers"] = []any{map[string]any{"name": "debug", "image": goldenImage, "command": []any{"cmd.exe"}}}
	}
	meta := map[string]any{"labels": map[string]any{"app": "golden"}}
	return podSpec, meta
}

// wrap puts a pod spec and pod metadata into a workload of the given kind and returns it with the
// field paths of its pod spec and pod metadata.
func wrap(kind string, podSpec, meta map[string]any) (map[string]any, string, string) {
	k, ok := workload.Lookup(kind)
	if !ok {
		panic("unknown workload kind " + kind)
	}
	objMeta := map[string]any{"name": "golden", "namespace": "hpc"}
	template := map[string]any{"metadata": meta, "spec": podSpec}
	selector := map[string]any{"matchLabels": map[string]any{"app": "golden"}}
	withRestart := func() map[string]any {
		s := clone(podSpec).(map[string]any)
		s["restartPolicy"] = "OnFailure"
		return map[string]any{"metadata": meta, "spec": s}
	}
	obj := map[string]any{"apiVersion": k.APIVersion(), "kind": kind, "metadata": objMeta}
	switch kind {
	case "Pod":
		m := clone(meta).(map[string]any)
		m["name"], m["namespace"] = "golden", "hpc"
		obj["metadata"], obj["spec"] = m, podSpec
	case "PodTemplate":
		obj["template"] = template
	case "ReplicationController":
		obj["spec"] = map[string]any{"replicas": 1, "selector": map[string]any{"app": "golden"}, "template": template}
	case "ReplicaSet", "Deployment", "DaemonSet":
		obj["spec"] = map[string]any{"selector": selector, "template": template}
	case "StatefulSet":
		obj["spec"] = map[string]any{"serviceName": "golden", "selector": selector, "template": template}
	case "Job":
		obj["spec"] = map[string]any{"template": withRestart()}
	case "CronJob":
		obj["spec"] = map[string]any{"schedule": "0 3 * * *", "jobTemplate": map[string]any{"spec": map[string]any{"template": withRestart()}}}
	}
	return obj, k.SpecPrefix(), k.MetaPrefix()
}

// mergePatch applies an RFC 7386 JSON merge patch to target and returns the result.
func mergePatch(target, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, ok := target.(map[string]any)
	if !ok {
		t = map[string]any{}
	}
	for k, v := range p {
		if v == nil {
			delete(t, k)
			continue
		}
		t[k] = mergePatch(t[k], v)
	}
	return t
}

// clone deep-copies a JSON-like value (normalising YAML-decoded numbers through JSON); nil, including
// a nil map, becomes an empty object.
func clone(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	if out == nil {
		return map[string]any{}
	}
	return out
}

// Golden renders every case as a manifest file plus the case index.
func Golden(s *spec.Spec) ([]File, error) {
	cases, err := Cases(s)
	if err != nil {
		return nil, err
	}
	files := make([]File, 0, len(cases)+1)
	for _, c := range cases {
		y, err := yaml.Marshal(c.Object)
		if err != nil {
			return nil, err
		}
		var hdr strings.Builder
		fmt.Fprintf(&hdr, "# %s\n", Header)
		verdict := "disallowed"
		if c.Allowed {
			verdict = "allowed"
		}
		fmt.Fprintf(&hdr, "# %s: %s value %q applied at %s\n", c.Rule, verdict, c.Value, c.Level)
		if len(c.Params) > 0 {
			pj, _ := json.Marshal(c.Params)
			fmt.Fprintf(&hdr, "# parameters: %s\n", pj)
		}
		if len(c.Expect) == 0 {
			fmt.Fprintf(&hdr, "# expect: no %s finding\n", c.Rule)
		}
		for _, e := range c.Expect {
			if e.Container != "" {
				fmt.Fprintf(&hdr, "# expect: %s (container %s)\n", e.Field, e.Container)
			} else {
				fmt.Fprintf(&hdr, "# expect: %s\n", e.Field)
			}
		}
		files = append(files, File{Path: c.File, Data: append([]byte(hdr.String()), y...)})
	}
	index, err := marshalJSON(cases)
	if err != nil {
		return nil, err
	}
	files = append(files, File{Path: GoldenIndex, Data: index})
	return files, nil
}
