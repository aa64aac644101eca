package generator

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hpguard/hpguard/generator/spec"
)

// kyvernoReadme is kyverno/README.md.
func kyvernoReadme(s *spec.Spec) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "<!-- %s -->\n# %s for Kyverno\n\n", Header, s.Ruleset.Name)
	b.WriteString("One Kyverno `ValidatingPolicy` (`policies.kyverno.io/v1`, CEL) per rule of each profile\n" +
		"(`profiles/<profile>/<rule>.yaml`, named `" + KyvernoPolicyPrefix + "<rule>`, labelled `hpguard.dev/profile`), generated\n" +
		"from the same spec and the same CEL as the ValidatingAdmissionPolicies in `vap/`: same verdicts,\n" +
		"same messages (a rule's findings on one object joined with \"" + CELMessageSeparator + "\"). Tested with Kyverno\n" +
		"v1.19.1.\n\n")
	b.WriteString("## Install a profile\n\nOne profile at a time (every profile names its policies the same way), from the repository's root:\n\n```sh\n" +
		"kubectl apply -k " + KyvernoDir + "/profiles/" + s.Ruleset.DefaultProfile + "\n```\n\n")
	b.WriteString("A rule that denies in the profile has `validationActions: [Deny, Audit]` (admission refused, and\n" +
		"reported in policy reports); a rule that warns has `[Warn, Audit]` (a warning to the client, and\n" +
		"reported).\n\n")
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
		"Every policy matches Pods (and the `pods/ephemeralcontainers` subresource) and the eight workload\n" +
		"kinds with a pod template (PodTemplate, ReplicationController, ReplicaSet, Deployment, DaemonSet,\n" +
		"StatefulSet, Job, CronJob) directly, on CREATE and UPDATE: a violation is reported at the workload,\n" +
		"with the path of its pod spec (`spec.template.spec...`). Kyverno's rule generation for pod\n" +
		"controllers is off (`autogen: {podControllers: {controllers: []}}`), so no workload is evaluated twice\n" +
		"by the same rule. Pods that controllers create are admitted requests of their own and are checked too,\n" +
		"as with the ValidatingAdmissionPolicies.\n\n")
	b.WriteString("## Parameters and exemptions\n\n" +
		"A `ValidatingPolicy` has no parameter resource, so a rule's parameters are the policy variable\n" +
		"`" + KyvernoParamsVariable + "`: a CEL map literal wrapped in `dyn()`, holding the spec defaults. Absent keys take the\n" +
		"defaults; the rules read it exactly as the ValidatingAdmissionPolicies read their `HPGuardParameters`\n" +
		"object. It is evaluated the same way at admission, in background scans and by `kyverno apply`, needs\n" +
		"no RBAC for another resource, and an auditor reads the values in the policy itself. Exemptions\n" +
		"(namespaces, service accounts, images) are parameters of `hostprocess-disallowed`, with the semantics\n" +
		"of every other engine (docs/rules.md).\n\n" +
		"Change them with a kustomize overlay that replaces the variable (it is the first variable after\n" +
		"the pod's fields; check its index in the policy), for example:\n\n```yaml\n" +
		"# my-cluster/kustomization.yaml\n" +
		"resources:\n  - ../" + KyvernoDir + "/profiles/baseline\n" +
		"patches:\n  - target: {kind: ValidatingPolicy, name: " + KyvernoPolicyPrefix + "hostprocess-disallowed}\n" +
		"    patch: |-\n      - op: test\n        path: /spec/variables/" + fmt.Sprint(kyvernoParamsIndex(s, "hostprocess-disallowed")) + "/name\n        value: " + KyvernoParamsVariable + "\n" +
		"      - op: replace\n        path: /spec/variables/" + fmt.Sprint(kyvernoParamsIndex(s, "hostprocess-disallowed")) + "/expression\n" +
		"        value: 'dyn({\"exemptNamespaces\": [\"kube-system\"], \"exemptImages\": [\"mcr.microsoft.com/oss/kubernetes/*\"]})'\n```\n\n" +
		"The `test` operation makes kustomize refuse the patch if the variable is not at that index.\n" +
		"`hpguard check --engine kyverno --params FILE` evaluates the shipped policies with other values in the\n" +
		"same way.\n\n")
	b.WriteString("## Offline checks\n\n" +
		"`kyverno apply` and `kyverno test` evaluate these policies exactly as the admission controller does,\n" +
		"but the CLI compiles every policy again for each resource (Kyverno v1.19.1): about 25 ms per policy\n" +
		"and resource, 275 ms for field-types: the strict profile took 178 s for 196 resources (0.9 s each)\n" +
		"on 2 cores. In CI, `hpguard check --engine kyverno` evaluates the same policy files, compiled\n" +
		"once, with the same verdicts and messages.\n\n")
	b.WriteString("## Proof\n\n" +
		"`make kyverno-test` builds the Kyverno CLI v1.19.1 from its module and runs `kyverno test " + KyvernoDir + "/tests`, a\n" +
		"suite generated from the golden cases (`tests/<rule>/kyverno-test.yaml`, one test per parameter\n" +
		"set; every case renamed after itself, since the CLI keys resources by name), and compares\n" +
		"Kyverno's verdicts and messages with `hpguard check` on every golden case and the bypass corpus\n" +
		"under every profile: `kyverno apply` on the bypass corpus and a sample of the golden cases, and\n" +
		"Kyverno's own engine, driven as the CLI drives it, on all of them (the CLI compiles every policy\n" +
		"again for each resource).\n")
	return []byte(b.String())
}

// kyvernoParamsIndex is the index of the hpParams variable in rule id's policy (-1 without one).
func kyvernoParamsIndex(s *spec.Spec, id string) int {
	r := s.RuleByID(id)
	if r == nil {
		return -1
	}
	c, err := CEL(s, r, "{}")
	if err != nil {
		return -1
	}
	for i, v := range c.Variables {
		if v.Name == KyvernoParamsVariable {
			return i
		}
	}
	return -1
}
