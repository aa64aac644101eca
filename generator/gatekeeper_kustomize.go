package generator

import (
	"bytes"
	"strings"

	"github.com/hpguard/hpguard/internal/workload"
	expansionv1beta1 "github.com/open-policy-agent/gatekeeper/v3/apis/expansion/v1beta1"
	"github.com/open-policy-agent/gatekeeper/v3/pkg/mutation/match"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Resources  []string `json:"resources"`
}

func newKustomization(resources ...string) kustomization {
	return kustomization{APIVersion: "kustomize.config.k8s.io/v1beta1", Kind: "Kustomization", Resources: resources}
}

// ExpansionPath holds the ExpansionTemplates of the workload controllers, relative to GatekeeperDir.
// They are opt-in (not part of any profile): hpguard's Constraints check every workload kind
// directly, with the workload's own field paths and the messages of `hpguard check`, and match
// only source Original, so resources Gatekeeper generates by expansion are never reported twice.
// Installing the templates (`kubectl apply -k gatekeeper/expansion`) makes Pod-only policies of
// other sources surface at the workload; the gator suite runs hpguard with them to prove that each
// violation is still reported once.
const ExpansionPath = "expansion/expansiontemplates.yaml"

// expansionFile renders one ExpansionTemplate per workload kind with a template (workload.Kinds):
// the pod template of ReplicationController, ReplicaSet, Deployment, DaemonSet, StatefulSet and Job
// (and of PodTemplate) expands to a Pod; a CronJob's job template expands to a Job, which expands in
// turn.
func expansionFile() ([]byte, error) {
	type source struct {
		group, kind, path, genKind, genGroup string
	}
	var sources []source
	for _, k := range workload.Kinds {
		if k.Template == nil {
			continue
		}
		gen, _ := workload.Lookup(k.Creates)
		sources = append(sources, source{k.Group(), k.Name, strings.Join(k.Template, "."), k.Creates, gen.Group()})
	}
	var out []byte
	for i, src := range sources {
		et := expansionv1beta1.ExpansionTemplate{
			TypeMeta:   metav1.TypeMeta{APIVersion: expansionv1beta1.GroupVersion.String(), Kind: "ExpansionTemplate"},
			ObjectMeta: metav1.ObjectMeta{Name: "hpguard-expand-" + strings.ToLower(src.kind), Labels: map[string]string{"app.kubernetes.io/part-of": "hpguard"}},
			Spec: expansionv1beta1.ExpansionTemplateSpec{
				ApplyTo:        []match.ApplyTo{{Groups: []string{src.group}, Kinds: []string{src.kind}, Versions: []string{"v1"}}},
				TemplateSource: src.path,
				GeneratedGVK:   expansionv1beta1.GeneratedGVK{Group: src.genGroup, Version: "v1", Kind: src.genKind},
			},
		}
		y, err := marshalYAML(et, "status", "metadata.creationTimestamp")
		if err != nil {
			return nil, err
		}
		if i > 0 {
			y = append([]byte("---\n"), bytes.TrimPrefix(y, []byte("# "+Header+"\n"))...)
		}
		out = append(out, y...)
	}
	return out, nil
}
