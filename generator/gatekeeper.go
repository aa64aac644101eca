package generator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"

	yaml3 "go.yaml.in/yaml/v3"

	"github.com/hpguard/hpguard/generator/spec"
)

// GatekeeperDir is where the Gatekeeper artifacts are written: templates/<rule>/, profiles/<profile>/,
// the gator suite (suite.yaml, tests/) and embed.go, which embeds templates and profiles in the binary.
const GatekeeperDir = "gatekeeper"

// GatekeeperTarget is the Gatekeeper admission target every template is written for.
const GatekeeperTarget = "admission.k8s.gatekeeper.sh"

// RuleAnnotation names the annotation carrying the hpguard rule id on templates and constraints.
const RuleAnnotation = "hpguard.dev/rule"

// TemplatesKustomization is the kustomization of every ConstraintTemplate, relative to GatekeeperDir.
// A profile's kustomization holds its Constraints only: every template is installed, whatever the
// profile, so that changing profiles is applying another profile's Constraints.
const TemplatesKustomization = "templates/kustomization.yaml"

// GatekeeperInstall is how to install a profile on a cluster that runs Gatekeeper, from the
// repository's root: the templates, a wait until Gatekeeper reports each created and the Constraint
// CRDs it created are established (what Gatekeeper's `gator policy install` waits for), then the
// profile's Constraints. One `kubectl apply -k` of both fails on a fresh cluster, as the
// Constraints' kinds do not exist yet when kubectl resolves them.
func GatekeeperInstall(s *spec.Spec, profile string) []string {
	return []string{
		"kubectl apply -k " + GatekeeperDir + "/templates",
		"kubectl wait constrainttemplate -l app.kubernetes.io/part-of=" + s.Ruleset.Name + " --for=jsonpath='{.status.created}'=true --timeout=2m",
		"kubectl wait crd -l gatekeeper.sh/constraint=yes --for=condition=Established --timeout=1m",
		"kubectl apply -k " + GatekeeperDir + "/profiles/" + profile,
	}
}

// GatekeeperVariant renders rules for Gatekeeper: the library under data.lib (the only data Gatekeeper
// lets a template import besides data.inventory), parameters from the Constraint (input.parameters).
func GatekeeperVariant(s *spec.Spec) Variant {
	root := s.Ruleset.Package
	return Variant{
		LibPackage:  "lib." + root + ".core",
		RulePackage: func(r *spec.Rule) string { return root + strings.ReplaceAll(r.ID, "-", "") },
		ParamsRef:   func(*spec.Rule) string { return "input.parameters" },
	}
}

// Gatekeeper renders gatekeeper/: one ConstraintTemplate per rule with a kustomization of them all
// (templates/), one Constraint per rule of each profile with a kustomization of the profile's
// Constraints only (profiles/<profile>/), and the gator suite built from the golden cases.
//
// Templates and Constraints are installed in two steps because a Constraint's kind is a CRD that
// Gatekeeper creates from its template: the templates first, then a wait until Gatekeeper reports
// them created, then the Constraints (TemplatesKustomization, InstallCommands).
func Gatekeeper(s *spec.Spec) ([]File, error) {
	var files []File
	add := func(rel string, data []byte) {
		files = append(files, File{Path: path.Join(GatekeeperDir, rel), Data: data})
	}
	v := GatekeeperVariant(s)
	lib, err := LibModule(s, v)
	if err != nil {
		return nil, err
	}
	templateDirs := make([]string, 0, len(s.Rules))
	for _, r := range s.Rules {
		ct, err := ConstraintTemplate(s, r, lib)
		if err != nil {
			return nil, err
		}
		y, err := marshalYAML(ct, "status", "metadata.creationTimestamp")
		if err != nil {
			return nil, err
		}
		add(TemplatePath(r), y)
		k, err := marshalYAML(newKustomization("constrainttemplate.yaml"))
		if err != nil {
			return nil, err
		}
		add(path.Join("templates", r.ID, "kustomization.yaml"), k)
		templateDirs = append(templateDirs, r.ID)
	}
	sort.Strings(templateDirs)
	k, err := marshalYAML(newKustomization(templateDirs...))
	if err != nil {
		return nil, err
	}
	add(TemplatesKustomization, k)
	for _, p := range s.Ruleset.Profiles {
		ids := make([]string, 0, len(p.Rules))
		for id := range p.Rules {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		var constraints []string
		for _, id := range ids {
			r := s.RuleByID(id)
			if r == nil {
				return nil, fmt.Errorf("profile %s: unknown rule %s", p.Name, id)
			}
			c := NewConstraint(s, r, p.Name, string(p.Rules[id]), r.ParamDefaults())
			y, err := marshalYAML(c, "metadata.creationTimestamp")
			if err != nil {
				return nil, err
			}
			add(ConstraintPath(p.Name, r), y)
			constraints = append(constraints, id+".yaml")
		}
		k, err := marshalYAML(newKustomization(constraints...))
		if err != nil {
			return nil, err
		}
		add(path.Join("profiles", p.Name, "kustomization.yaml"), k)
	}
	combined, err := combinedFiles(s, lib)
	if err != nil {
		return nil, err
	}
	files = append(files, combined...)
	expansions, err := expansionFile()
	if err != nil {
		return nil, err
	}
	add(ExpansionPath, expansions)
	k, err = marshalYAML(newKustomization(path.Base(ExpansionPath)))
	if err != nil {
		return nil, err
	}
	add(path.Join(path.Dir(ExpansionPath), "kustomization.yaml"), k)
	suite, err := gatorSuiteFiles(s)
	if err != nil {
		return nil, err
	}
	files = append(files, suite...)
	files = append(files, File{Path: path.Join(GatekeeperDir, "embed.go"), Data: []byte(gatekeeperEmbed)})
	files = append(files, File{Path: path.Join(GatekeeperDir, "README.md"), Data: gatekeeperReadme(s)})
	return files, nil
}

// gatekeeperReadme documents gatekeeper/ for operators.
func gatekeeperReadme(s *spec.Spec) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "<!-- %s -->\n# %s for Gatekeeper\n\n", Header, s.Ruleset.Name)
	b.WriteString("One ConstraintTemplate per rule (`templates/<rule>/`, Rego v1, target `" + GatekeeperTarget + "`,\n" +
		"checked on CREATE and UPDATE) and one Constraint per rule of each profile (`profiles/<profile>/`,\n" +
		"`enforcementAction` = the rule's severity in the profile, `parameters` = the defaults). Each template\n" +
		"holds the rule in Rego, the logic `hpguard check --engine gatekeeper` runs, and in CEL (a\n" +
		"`K8sNativeValidation` block, the logic of `hpguard check --engine cel`); Gatekeeper evaluates the\n" +
		"CEL when its `--enable-k8s-native-validation` is on (the default) and the Rego otherwise. Both give\n" +
		"the same verdicts and messages.\n\n")
	b.WriteString("## Install a profile\n\nFrom the repository's root: the templates (all of them, whatever the profile), a wait until\n" +
		"Gatekeeper has created the Constraint kind of each and the API server serves it, then the\n" +
		"profile's Constraints.\n\n```sh\n" +
		strings.Join(GatekeeperInstall(s, s.Ruleset.DefaultProfile), "\n") + "\n```\n\n" +
		"Gatekeeper's default `--default-create-vap-binding-for-constraints=true` makes it try to generate a\n" +
		"ValidatingAdmissionPolicyBinding for every Constraint of a template with a CEL block; these\n" +
		"templates do not generate a ValidatingAdmissionPolicy (`generateVAP: false`), so each Constraint's\n" +
		"status then reports `cannot generate ValidatingAdmissionPolicyBinding` (admission and audit are\n" +
		"unaffected). Run Gatekeeper with `--default-create-vap-binding-for-constraints=false` (Helm:\n" +
		"`--set defaultCreateVAPBindingForConstraints=false`) to have no such error.\n\n")
	b.WriteString("| profile | rules |\n|---|---|\n")
	for _, p := range s.Ruleset.Profiles {
		ids := make([]string, 0, len(p.Rules))
		for id := range p.Rules {
			ids = append(ids, fmt.Sprintf("%s (%s)", id, p.Rules[id]))
		}
		sort.Strings(ids)
		fmt.Fprintf(&b, "| %s | %s |\n", p.Name, strings.Join(ids, ", "))
	}
	b.WriteString("\n## What is matched\n\n" +
		"Every Constraint matches Pods and the eight workload kinds (PodTemplate, ReplicationController,\n" +
		"ReplicaSet, Deployment, DaemonSet, StatefulSet, Job, CronJob) directly: a violation is reported at\n" +
		"the workload, with the path of its pod spec (`spec.template.spec...`). Ephemeral containers are\n" +
		"checked: `kubectl debug` adds them with an UPDATE of the `pods/ephemeralcontainers` subresource,\n" +
		"which Gatekeeper's webhook receives as a Pod UPDATE. Constraints match `source: Original` only, so\n" +
		"resources generated by ExpansionTemplates are never reported a second time.\n\n" +
		"`expansion/` holds opt-in ExpansionTemplates for the workload controllers (`kubectl apply -k\n" +
		"gatekeeper/expansion`). hpguard does not need them; they make Pod-only policies from other sources\n" +
		"surface at the workload.\n\n")
	b.WriteString("## Parameters and exemptions\n\n" +
		"Set parameters in a Constraint's `spec.parameters` (see each template's `openAPIV3Schema`), for\n" +
		"instance `exemptNamespaces`, `exemptServiceAccounts` and `exemptImages` of hostprocess-disallowed.\n" +
		"Gatekeeper's own `spec.match.excludedNamespaces` also works, but exempts the namespace from the rule\n" +
		"entirely.\n\n")
	b.WriteString("## Tests\n\n`suite.yaml` is a gator suite generated from the golden cases (`../tests/golden`): allowed cases\n" +
		"give no violation, disallowed cases exactly the expected ones; cases with parameters use their own\n" +
		"Constraint (`tests/constraints/`); `tests/ephemeral-update/` holds the AdmissionReviews of the\n" +
		"ephemeral-container UPDATEs; the `-with-expansion` tests load `expansion/`.\n\n" +
		"```sh\nmake gator-verify   # gator verify gatekeeper/ (gator pinned in go.mod)\n```\n")
	return []byte(b.String())
}

const gatekeeperEmbed = `// ` + Header + `

// Package gatekeeper holds the generated Gatekeeper ConstraintTemplates and profile Constraints,
// embedded so that hpguard evaluates exactly the templates it ships.
package gatekeeper

import (
	"embed"
	"io/fs"
)

//go:embed templates/*/constrainttemplate.yaml profiles/*/*.yaml combined/template/constrainttemplate.yaml combined/profiles/*/*.yaml
var files embed.FS

// FS returns templates/<rule>/constrainttemplate.yaml and profiles/<profile>/<rule>.yaml, and the
// combined form: combined/template/constrainttemplate.yaml and combined/profiles/<profile>/*.yaml.
func FS() fs.FS { return files }
`

// marshalYAML marshals v (through its JSON form) as YAML with a header comment, after removing the
// dotted paths in drop (e.g. empty status blocks of typed Kubernetes objects).
func marshalYAML(v any, drop ...string) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for _, d := range drop {
		parts := strings.Split(d, ".")
		cur := m
		for i, p := range parts {
			if i == len(parts)-1 {
				delete(cur, p)
				break
			}
			next, ok := cur[p].(map[string]any)
			if !ok {
				break
			}
			cur = next
		}
	}
	// yaml.v3 writes the Rego sources as literal blocks, readable in the YAML.
	var buf bytes.Buffer
	buf.WriteString("# " + Header + "\n")
	enc := yaml3.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
