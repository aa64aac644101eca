package generator

import (
	"fmt"
	"strings"

	"github.com/hpguard/hpguard/generator/checks"
	"github.com/hpguard/hpguard/generator/spec"
	"github.com/hpguard/hpguard/internal/ruleset"
	"github.com/hpguard/hpguard/internal/workload"
)

// The CEL form of every rule (issue 8). A rule compiles to a list of CEL variables ending in
// "findings": a list of groups, each a list of findings {field, container, msg} equal to the Rego
// findings of the rule (same message text, field path and container; container "" for pod-level
// findings). One validation per rule passes when every group is empty; its messageExpression joins
// the messages with CELMessageSeparator (the API server refuses multi-line messages).
//
// The expressions need the Kubernetes CEL environment of 1.32 or later (two-variable comprehensions:
// transformList; the strings extension: strings.quote, join, split, lowerAscii): an API server
// accepts them in a new policy from Kubernetes 1.33 on (it compiles new expressions with the
// environment of the previous minor version). Map keys are sorted by rank (JSON renders objects
// with sorted keys) since lists.sort needs 1.34.

// CELMessageSeparator separates the messages of a rule in its messageExpression.
const CELMessageSeparator = "; "

// CELVariable is a named CEL expression (a VAP variable; variables.<name> in later expressions).
type CELVariable = checks.CELVariable

// CELValidation is a validation: Expression must be true, else MessageExpression is the message.
type CELValidation struct {
	Expression        string `json:"expression"`
	MessageExpression string `json:"messageExpression"`
}

// CELRule is the CEL form of a rule.
type CELRule struct {
	// Variables in evaluation order; the last is "findings".
	Variables []CELVariable
	// Validations of the rule (one).
	Validations []CELValidation
	// FindingsExpression evaluates to the findings as a string: "field\x1fcontainer\x1fmsg" for each,
	// separated by "\x1e" (a string, so that it compiles as a messageExpression would).
	FindingsExpression string
}

// CELParamsVAP is the parameters root of a ValidatingAdmissionPolicy: the spec of the params
// object (an hpguard Parameters object); absent keys take the spec defaults.
const CELParamsVAP = `params != null && has(params.spec) && type(params.spec) == map ? params.spec : {}`

// CELParamsGatekeeper is the parameters root of a Gatekeeper K8sNativeValidation source (Gatekeeper
// binds the Constraint's spec.parameters to variables.params).
const CELParamsGatekeeper = `has(variables.params) && variables.params != null ? variables.params : {}`

// CEL compiles a rule into its CEL form, reading parameters from the CEL expression paramsRoot
// (CELParamsVAP or CELParamsGatekeeper).
func CEL(s *spec.Spec, r *spec.Rule, paramsRoot string) (CELRule, error) {
	if err := resolve(s); err != nil {
		return CELRule{}, err
	}
	b := &checks.CELBuilder{Rule: r, Names: NameComparison(s)}
	common(b)
	if len(r.Parameters) > 0 {
		b.Add("hpParams", paramsRoot)
		for _, p := range r.Parameters {
			def, err := checks.Literal(p.Default)
			if err != nil {
				return CELRule{}, fmt.Errorf("rule %s parameter %s: %w", r.ID, p.Name, err)
			}
			b.Add("param_"+p.Name, fmt.Sprintf(`%q in variables.hpParams && variables.hpParams[%q] != null ? variables.hpParams[%q] : %s`, p.Name, p.Name, p.Name, def))
		}
	}
	groups, err := checks.CompileCEL(b)
	if err != nil {
		return CELRule{}, fmt.Errorf("rule %s: %w", r.ID, err)
	}
	// Each group is a variable of its own, so that the per-expression cost limit applies per group.
	var single, multi []string
	for i, g := range groups {
		name := fmt.Sprintf("group%d", i)
		if rest, ok := strings.CutPrefix(g, "@"); ok {
			b.Add(name, rest)
			multi = append(multi, "variables."+name)
		} else {
			b.Add(name, g)
			single = append(single, "dyn(variables."+name+")")
		}
	}
	b.Add("findings", strings.Join(append([]string{"[" + strings.Join(single, ", ") + "]"}, multi...), " + "))
	return CELRule{
		Variables: b.Variables(),
		Validations: []CELValidation{{
			Expression:        `variables.findings.all(g, size(g) == 0)`,
			MessageExpression: fmt.Sprintf(`variables.findings.map(g, g.map(f, f.msg).join(%q)).filter(m, m != "").join(%q)`, CELMessageSeparator, CELMessageSeparator),
		}},
		FindingsExpression: ruleset.CELFindingsExpression,
	}, nil
}

// celDefaultSpec and celDefaultMeta are the most common places of the pod spec and metadata; byKind
// tests for the workload kinds that keep them elsewhere.
const celDefaultSpec, celDefaultMeta = "spec.template.spec", "spec.template.metadata"

// byKind builds a conditional over the workload kinds.
func byKind(f func(path string) string, spec bool) string {
	var b strings.Builder
	for _, k := range workload.Kinds {
		p := k.MetaPrefix()
		if spec {
			p = k.SpecPrefix()
		}
		if (spec && p == celDefaultSpec) || (!spec && p == celDefaultMeta) {
			continue
		}
		fmt.Fprintf(&b, "object.kind == %s ? %s : ", checks.Lit(k.Name), f(p))
	}
	if spec {
		b.WriteString(f(celDefaultSpec))
	} else {
		b.WriteString(f(celDefaultMeta))
	}
	return b.String()
}

func common(b *checks.CELBuilder) {
	b.Add("podSpecRaw", byKind(func(p string) string { return checks.Get("object", strings.Split(p, ".")...) }, true))
	b.Add("podSpec", `type(variables.podSpecRaw) == map ? variables.podSpecRaw : {}`)
	b.Add("podMetaRaw", byKind(func(p string) string { return checks.Get("object", strings.Split(p, ".")...) }, false))
	b.Add("podMeta", `type(variables.podMetaRaw) == map ? variables.podMetaRaw : {}`)
	b.Add("prefix", byKind(checks.Lit, true))
	b.Add("metaPrefix", byKind(checks.Lit, false))
	b.Add("objectNamespace", fmt.Sprintf(`%s != "" ? %s : (has(request.namespace) ? request.namespace : "")`,
		checks.GetOr("object", `""`, "metadata", "namespace"), checks.GetOr("object", `""`, "metadata", "namespace")))
	for _, key := range []string{"hostProcess", "runAsUserName", "runAsNonRoot"} {
		b.Add("pod_"+key, checks.Get("variables.podSpec", checks.ValueFields[key]...))
	}
	var lists []string
	for _, l := range []string{"initContainers", "containers", "ephemeralContainers"} {
		entry := fmt.Sprintf(`{"name": dyn(type(%[1]s) == string ? %[1]s : ""), "list": dyn(%s), "index": dyn(i), "path": dyn(variables.prefix + %s + string(i) + "]"), "spec": dyn(c)`,
			checks.GetOr("c", `""`, "name"), checks.Lit(l), checks.Lit("."+l+"["))
		for _, key := range []string{"hostProcess", "runAsUserName", "runAsNonRoot"} {
			entry += fmt.Sprintf(`, %s: dyn(%s)`, checks.Lit(key), checks.Get("c", checks.ValueFields[key]...))
		}
		hp := checks.Get("c", checks.ValueFields["hostProcess"]...)
		entry += fmt.Sprintf(`, "isHostProcess": dyn((%s != null ? %s : variables.pod_hostProcess) == true)}`, hp, hp)
		// One variable per list: the type checker's work grows with the square of an expression's
		// size, so three small expressions compile several times faster than their sum (in every
		// engine that compiles them: the API server, Gatekeeper, gator, hpguard).
		b.Add("list_"+l, fmt.Sprintf(`%s in variables.podSpec && type(variables.podSpec[%s]) == list ? variables.podSpec[%s].transformList(i, c, type(c) == map, %s) : []`,
			checks.Lit(l), checks.Lit(l), checks.Lit(l), entry))
		lists = append(lists, "variables.list_"+l)
	}
	b.Add("containers", strings.Join(lists, " + "))
	b.Add("hpContainers", `variables.containers.filter(c, c.isHostProcess)`)
	b.Add("isHostProcessPod", `size(variables.hpContainers) > 0`)
}
