// Package workload is the one table of the workload kinds hpguard evaluates: for each kind its API
// groups and version, its resource, where it keeps its pod spec and pod metadata, and the template
// its controller expands. The manifest reader (internal/check), the engines, the golden cases and
// the generated policies take the kinds from Kinds.
package workload

import "strings"

// Kind is one workload kind.
type Kind struct {
	// Name is the kind, e.g. "Deployment".
	Name string
	// Groups are the API groups the kind is a workload in, the current one first; "" is the core
	// group. Deployment, ReplicaSet and DaemonSet are also read in "extensions", their group
	// before apps/v1.
	Groups []string
	// Version is the kind's API version in its current group, e.g. "v1".
	Version string
	// Resource is the kind's resource, e.g. "deployments".
	Resource string
	// Spec is the path of the pod spec in an object of the kind, e.g. spec, template, spec.
	Spec []string
	// Meta is the path of the pod metadata, e.g. spec, template, metadata.
	Meta []string
	// Template is the path of the template the kind's controller creates objects from (nil for Pod).
	Template []string
	// Creates is the kind of the objects made from Template: "Pod", or "Job" for a CronJob.
	Creates string
}

var (
	core  = []string{""}
	apps  = []string{"apps", "extensions"}
	batch = []string{"batch"}
)

// pathOf splits a dotted path.
func pathOf(p string) []string { return strings.Split(p, ".") }

// Kinds are the nine workload kinds, Pod first, then in the order the docs and artifacts list them.
var Kinds = []Kind{
	{Name: "Pod", Groups: core, Version: "v1", Resource: "pods",
		Spec: pathOf("spec"), Meta: pathOf("metadata")},
	{Name: "PodTemplate", Groups: core, Version: "v1", Resource: "podtemplates",
		Spec: pathOf("template.spec"), Meta: pathOf("template.metadata"), Template: pathOf("template"), Creates: "Pod"},
	{Name: "ReplicationController", Groups: core, Version: "v1", Resource: "replicationcontrollers",
		Spec: pathOf("spec.template.spec"), Meta: pathOf("spec.template.metadata"), Template: pathOf("spec.template"), Creates: "Pod"},
	{Name: "ReplicaSet", Groups: apps, Version: "v1", Resource: "replicasets",
		Spec: pathOf("spec.template.spec"), Meta: pathOf("spec.template.metadata"), Template: pathOf("spec.template"), Creates: "Pod"},
	{Name: "Deployment", Groups: apps, Version: "v1", Resource: "deployments",
		Spec: pathOf("spec.template.spec"), Meta: pathOf("spec.template.metadata"), Template: pathOf("spec.template"), Creates: "Pod"},
	{Name: "DaemonSet", Groups: apps, Version: "v1", Resource: "daemonsets",
		Spec: pathOf("spec.template.spec"), Meta: pathOf("spec.template.metadata"), Template: pathOf("spec.template"), Creates: "Pod"},
	{Name: "StatefulSet", Groups: []string{"apps"}, Version: "v1", Resource: "statefulsets",
		Spec: pathOf("spec.template.spec"), Meta: pathOf("spec.template.metadata"), Template: pathOf("spec.template"), Creates: "Pod"},
	{Name: "Job", Groups: batch, Version: "v1", Resource: "jobs",
		Spec: pathOf("spec.template.spec"), Meta: pathOf("spec.template.metadata"), Template: pathOf("spec.template"), Creates: "Pod"},
	{Name: "CronJob", Groups: batch, Version: "v1", Resource: "cronjobs",
		Spec: pathOf("spec.jobTemplate.spec.template.spec"), Meta: pathOf("spec.jobTemplate.spec.template.metadata"), Template: pathOf("spec.jobTemplate"), Creates: "Job"},
}

// Lookup returns the workload kind of the given name.
func Lookup(name string) (Kind, bool) {
	for _, k := range Kinds {
		if k.Name == name {
			return k, true
		}
	}
	return Kind{}, false
}

// IsWorkload reports whether apiVersion/kind is one of the workload kinds, in one of its groups
// (any version).
func IsWorkload(apiVersion, kind string) bool {
	k, ok := Lookup(kind)
	if !ok {
		return false
	}
	group := ""
	if i := strings.LastIndex(apiVersion, "/"); i >= 0 {
		group = apiVersion[:i]
	}
	for _, g := range k.Groups {
		if g == group {
			return true
		}
	}
	return false
}

// Group is the kind's current API group ("" for the core group).
func (k Kind) Group() string { return k.Groups[0] }

// APIVersion is the kind's current apiVersion, e.g. "apps/v1" or "v1".
func (k Kind) APIVersion() string {
	if k.Group() == "" {
		return k.Version
	}
	return k.Group() + "/" + k.Version
}

// SpecPrefix is the field path of the pod spec, e.g. "spec.template.spec".
func (k Kind) SpecPrefix() string { return strings.Join(k.Spec, ".") }

// MetaPrefix is the field path of the pod metadata, e.g. "spec.template.metadata".
func (k Kind) MetaPrefix() string { return strings.Join(k.Meta, ".") }

// TemplatePath is the field path of the template, e.g. "spec.template" ("" for Pod).
func (k Kind) TemplatePath() string { return strings.Join(k.Template, ".") }

// GroupKinds are the kinds that are workloads in the same API groups.
type GroupKinds struct {
	Groups []string
	Kinds  []string
}

// ByGroups returns the kinds gathered by their API groups, in table order (the match list of an
// admission policy or a Gatekeeper Constraint).
func ByGroups() []GroupKinds {
	var out []GroupKinds
	for _, k := range Kinds {
		i := len(out) - 1
		if i < 0 || strings.Join(out[i].Groups, ",") != strings.Join(k.Groups, ",") {
			out = append(out, GroupKinds{Groups: k.Groups})
			i++
		}
		out[i].Kinds = append(out[i].Kinds, k.Name)
	}
	return out
}
