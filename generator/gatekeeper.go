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

// Gatekeeper renders gatekeeper/: one ConstraintTemplate per rule, one Constraint per rule of each
// profile with a kustomization, and the gator suite built from the golden cases.
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
	}
	for _, p := range s.Ruleset.Profiles {
		ids := make([]string, 0, len(p.Rules))
		for id := range p.Rules {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		var resources, constraints []string
		for _, id := range ids {
			r := s.RuleByID(id)
			if r == nil {
				return nil, fmt.Errorf("profile %s: unknown rule %s", p.Name, id)
			}
			resources = append(resources, "../../templates/"+id)
			c := NewConstraint(s, r, p.Name, string(p.Rules[id]), r.ParamDefaults())
			y, err := marshalYAML(c, "metadata.creationTimestamp")
			if err != nil {
				return nil, err
			}
			add(ConstraintPath(p.Name, r), y)
			constraints = append(constraints, id+".yaml")
		}
		k, err := marshalYAML(newKustomization(append(resources, constraints...)...))
		if err != nil {
			return nil, err
		}
		add(path.Join("profiles", p.Name, "kustomization.yaml"), k)
	}
	expansions, err := expansionFile()
	if err != nil {
		return nil, err
	}
	add(ExpansionPath, expansions)
	k, err := marshalYAML(newKustomization(path.Base(ExpansionPath)))
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
		"`enforcementAction` = the rule's severity in the profile, `parameters` = the defaults). The Rego is the\n" +
		"rule logic `hpguard check` runs, so messages and field paths are the same.\n\n")
	b.WriteString("## Install a profile\n\n```sh\nkubectl apply -k gatekeeper/profiles/" + s.Ruleset.DefaultProfile + "\n" +
		"# Gatekeeper creates each Constraint CRD from its template: if the first apply reports\n" +
		"# \"no matches for kind\", wait for the templates to be created and apply again.\n```\n\n")
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

//go:embed templates/*/constrainttemplate.yaml profiles/*/*.yaml
var files embed.FS

// FS returns templates/<rule>/constrainttemplate.yaml and profiles/<profile>/<rule>.yaml.
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
