package generator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	yaml3 "go.yaml.in/yaml/v3"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hpguard/hpguard/generator/spec"
	"github.com/hpguard/hpguard/internal/ruleset"
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
type CELVariable struct {
	Name       string `json:"name"`
	Expression string `json:"expression"`
}

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
	b := &celBuilder{rule: r, names: NameComparison(s)}
	b.common()
	if len(r.Parameters) > 0 {
		b.add("hpParams", paramsRoot)
		for _, p := range r.Parameters {
			def, err := celLiteral(p.Default)
			if err != nil {
				return CELRule{}, fmt.Errorf("rule %s parameter %s: %w", r.ID, p.Name, err)
			}
			b.add("param_"+p.Name, fmt.Sprintf(`%q in variables.hpParams && variables.hpParams[%q] != null ? variables.hpParams[%q] : %s`, p.Name, p.Name, p.Name, def))
		}
	}
	groups, err := b.check()
	if err != nil {
		return CELRule{}, fmt.Errorf("rule %s: %w", r.ID, err)
	}
	// Each group is a variable of its own, so that the per-expression cost limit applies per group.
	var single, multi []string
	for i, g := range groups {
		name := fmt.Sprintf("group%d", i)
		if rest, ok := strings.CutPrefix(g, "@"); ok {
			b.add(name, rest)
			multi = append(multi, "variables."+name)
		} else {
			b.add(name, g)
			single = append(single, "dyn(variables."+name+")")
		}
	}
	b.add("findings", strings.Join(append([]string{"[" + strings.Join(single, ", ") + "]"}, multi...), " + "))
	return CELRule{
		Variables: b.vars,
		Validations: []CELValidation{{
			Expression:        `variables.findings.all(g, size(g) == 0)`,
			MessageExpression: fmt.Sprintf(`variables.findings.map(g, g.map(f, f.msg).join(%q)).filter(m, m != "").join(%q)`, CELMessageSeparator, CELMessageSeparator),
		}},
		FindingsExpression: ruleset.CELFindingsExpression,
	}, nil
}

type celBuilder struct {
	rule  *spec.Rule
	names ruleset.NameComparison
	vars  []CELVariable
}

func (b *celBuilder) add(name, expr string) { b.vars = append(b.vars, CELVariable{name, expr}) }

// lit is a CEL string literal.
func lit(s string) string { return strconv.Quote(s) }

// get reads keys below base, null when a step is missing or not an object (Rego's object.get).
func get(base string, keys ...string) string {
	return getOr(base, "null", keys...)
}

func getOr(base, def string, keys ...string) string {
	var conds []string
	cur := base
	for _, k := range keys {
		conds = append(conds, fmt.Sprintf("type(%s) == map", cur), fmt.Sprintf("%s in %s", lit(k), cur))
		cur = fmt.Sprintf("%s[%s]", cur, lit(k))
	}
	return fmt.Sprintf("((%s) ? %s : %s)", strings.Join(conds, " && "), cur, def)
}

// show renders a value the way the Rego show(v) does: null as "unset", a string in quotes (escaped
// only when it holds control characters), anything else as JSON. Lists and objects are rendered one
// level deep (deeper values as "…"): deeper rendering multiplies the estimated cost.
func show(v string) string { return showDepth(v, 1) }

// showScalar is show for values inside a comprehension (over containers, volumes or list items):
// lists and objects are rendered as "[…]" and "{…}" (exact for empty ones), to bound the cost.
func showScalar(v string) string { return showDepth(v, 0) }

func showDepth(v string, depth int) string {
	return fmt.Sprintf(`(%[1]s == null ? "unset" : type(%[1]s) == string ? %[2]s : %[3]s)`, v, showString(v), celJSON(v, depth))
}

// showString is show for a value known to be a string.
func showString(v string) string {
	return fmt.Sprintf(`(%[1]s.matches("[[:cntrl:]]") ? strings.quote(%[1]s) : "\"" + %[1]s + "\"")`, v)
}

// celJSON renders a value as JSON (json.marshal) down to depth levels of lists and objects.
func celJSON(v string, depth int) string {
	scalar := fmt.Sprintf(`%[1]s == null ? "null" : type(%[1]s) == string ? strings.quote(%[1]s) : type(%[1]s) == bool || type(%[1]s) == int || type(%[1]s) == uint || type(%[1]s) == double ? string(%[1]s) : `, v)
	if depth == 0 {
		return fmt.Sprintf(`(%s type(%s) == list ? (size(%s) == 0 ? "[]" : "[…]") : type(%s) == map ? (size(%s) == 0 ? "{}" : "{…}") : "…")`, scalar, v, v, v, v)
	}
	e, k := fmt.Sprintf("e%d", depth), fmt.Sprintf("k%d", depth)
	return fmt.Sprintf(`(%s type(%s) == list ? "[" + %s.map(%s, %s).join(",") + "]" : type(%s) == map ? "{" + %s.map(%s, %s).transformList(r, _, %s.filter(%s, size(%s.filter(j, j < %s)) == r)[0]).map(%s, strings.quote(%s) + ":" + %s).join(",") + "}" : "…")`,
		scalar, v, v, e, celJSON(e, depth-1), v, v, k, k, v, k, v, k, k, k, celJSON(v+"["+k+"]", depth-1))
}

// celLiteral renders a JSON-compatible Go value as a CEL literal.
func celLiteral(v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "null", nil
	case string:
		return lit(x), nil
	case bool:
		return strconv.FormatBool(x), nil
	case int:
		return strconv.Itoa(x), nil
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), nil
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			p, err := celLiteral(e)
			if err != nil {
				return "", err
			}
			parts[i] = p
		}
		return "[" + strings.Join(parts, ", ") + "]", nil
	case []string:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = lit(e)
		}
		return "[" + strings.Join(parts, ", ") + "]", nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			p, err := celLiteral(x[k])
			if err != nil {
				return "", err
			}
			parts[i] = lit(k) + ": " + p
		}
		return "{" + strings.Join(parts, ", ") + "}", nil
	}
	return "", fmt.Errorf("no CEL literal for %T", v)
}

// valueFields are the inheritable securityContext fields, as in the Rego library.
var valueFields = map[string][]string{
	"hostProcess":   {"securityContext", "windowsOptions", "hostProcess"},
	"runAsUserName": {"securityContext", "windowsOptions", "runAsUserName"},
	"runAsNonRoot":  {"securityContext", "runAsNonRoot"},
}

func valueField(key string) string { return strings.Join(valueFields[key], ".") }

// layouts are where each workload kind keeps its pod spec and metadata (as in the Rego library).
var celLayouts = []struct{ kind, spec, meta string }{
	{"Pod", "spec", "metadata"},
	{"PodTemplate", "template.spec", "template.metadata"},
	{"CronJob", "spec.jobTemplate.spec.template.spec", "spec.jobTemplate.spec.template.metadata"},
}

const celDefaultSpec, celDefaultMeta = "spec.template.spec", "spec.template.metadata"

// byKind builds a conditional over the workload kinds.
func byKind(f func(path string) string, spec bool) string {
	var b strings.Builder
	for _, l := range celLayouts {
		p := l.meta
		if spec {
			p = l.spec
		}
		fmt.Fprintf(&b, "object.kind == %s ? %s : ", lit(l.kind), f(p))
	}
	if spec {
		b.WriteString(f(celDefaultSpec))
	} else {
		b.WriteString(f(celDefaultMeta))
	}
	return b.String()
}

func (b *celBuilder) common() {
	b.add("podSpecRaw", byKind(func(p string) string { return get("object", strings.Split(p, ".")...) }, true))
	b.add("podSpec", `type(variables.podSpecRaw) == map ? variables.podSpecRaw : {}`)
	b.add("podMetaRaw", byKind(func(p string) string { return get("object", strings.Split(p, ".")...) }, false))
	b.add("podMeta", `type(variables.podMetaRaw) == map ? variables.podMetaRaw : {}`)
	b.add("prefix", byKind(lit, true))
	b.add("metaPrefix", byKind(lit, false))
	b.add("namespace", fmt.Sprintf(`%s != "" ? %s : (has(request.namespace) ? request.namespace : "")`,
		getOr("object", `""`, "metadata", "namespace"), getOr("object", `""`, "metadata", "namespace")))
	for _, key := range []string{"hostProcess", "runAsUserName", "runAsNonRoot"} {
		b.add("pod_"+key, get("variables.podSpec", valueFields[key]...))
	}
	var lists []string
	for _, l := range []string{"initContainers", "containers", "ephemeralContainers"} {
		entry := fmt.Sprintf(`{"name": dyn(type(%[1]s) == string ? %[1]s : ""), "list": dyn(%s), "index": dyn(i), "path": dyn(variables.prefix + %s + string(i) + "]"), "spec": dyn(c)`,
			getOr("c", `""`, "name"), lit(l), lit("."+l+"["))
		for _, key := range []string{"hostProcess", "runAsUserName", "runAsNonRoot"} {
			entry += fmt.Sprintf(`, %s: dyn(%s)`, lit(key), get("c", valueFields[key]...))
		}
		hp := get("c", valueFields["hostProcess"]...)
		entry += fmt.Sprintf(`, "isHostProcess": dyn((%s != null ? %s : variables.pod_hostProcess) == true)}`, hp, hp)
		lists = append(lists, fmt.Sprintf(`(%s in variables.podSpec && type(variables.podSpec[%s]) == list ? variables.podSpec[%s].transformList(i, c, type(c) == map, %s) : [])`,
			lit(l), lit(l), lit(l), entry))
	}
	b.add("containers", strings.Join(lists, " +\n"))
	b.add("hpContainers", `variables.containers.filter(c, c.isHostProcess)`)
	b.add("isHostProcessPod", `size(variables.hpContainers) > 0`)
}

// finding is a CEL finding map.
func finding(field, container, msg string) string {
	return fmt.Sprintf(`{"field": dyn(%s), "container": dyn(%s), "msg": dyn(%s)}`, field, container, msg)
}

// effective, sourceField and sourceContainer follow the Rego library (c is a container entry).
func effective(c, key string) string {
	return fmt.Sprintf(`(%[1]s[%[2]s] != null ? %[1]s[%[2]s] : variables.pod_%[3]s)`, c, lit(key), key)
}

func sourceField(c, key string) string {
	return fmt.Sprintf(`(%[1]s[%[2]s] != null || variables.pod_%[3]s == null ? %[1]s.path + %[4]s : variables.prefix + %[4]s)`, c, lit(key), key, lit("."+valueField(key)))
}

func sourceContainer(c, key string) string {
	return fmt.Sprintf(`(%[1]s[%[2]s] != null || variables.pod_%[3]s == null ? %[1]s.name : "")`, c, lit(key), key)
}

// sourced lists the effective values of an inheritable field for the HostProcess containers, each
// with its source (as core.source): the containers' own values, and the pod's value once when some
// HostProcess container inherits it. Field paths are unique, so no deduplication is needed (which
// would cost quadratic time on large pods).
func sourced(key string) string {
	vf := lit("." + valueField(key))
	return fmt.Sprintf(`variables.hpContainers.filter(c, c[%[1]s] != null).map(c, {"value": dyn(c[%[1]s]), "field": dyn(c.path + %[2]s), "container": dyn(c.name)}) + (variables.pod_%[3]s != null && variables.hpContainers.exists(c, c[%[1]s] == null) ? [{"value": dyn(variables.pod_%[3]s), "field": dyn(variables.prefix + %[2]s), "container": dyn("")}] : [])`,
		lit(key), vf, key)
}

func argString(args map[string]any, k string) string { s, _ := args[k].(string); return s }

func argStrings(args map[string]any, k string) []string {
	var out []string
	switch x := args[k].(type) {
	case []any:
		for _, e := range x {
			out = append(out, fmt.Sprint(e))
		}
	case []string:
		out = x
	}
	return out
}

func argLast(args map[string]any, k string) string {
	p := argStrings(args, k)
	if len(p) == 0 {
		return ""
	}
	return p[len(p)-1]
}

func celTypeName(t string) (string, error) {
	switch t {
	case "boolean":
		return "bool", nil
	case "array":
		return "list", nil
	case "object":
		return "map", nil
	case "string":
		return "string", nil
	}
	return "", fmt.Errorf("field-types: unsupported type %q", t)
}

func strList(xs []string) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = lit(x)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// check returns the finding groups of the rule's check kind.
func (b *celBuilder) check() ([]string, error) {
	args := b.rule.Check.Args
	switch b.rule.Check.Kind {
	case "field-types":
		var groups []string
		entries := func(k string) ([]string, [][]string, error) {
			var types []string
			var paths [][]string
			items, _ := args[k].([]any)
			for _, it := range items {
				m, _ := it.(map[string]any)
				t, err := celTypeName(fmt.Sprint(m["type"]))
				if err != nil {
					return nil, nil, err
				}
				var p []string
				ps, _ := m["path"].([]any)
				for _, e := range ps {
					p = append(p, fmt.Sprint(e))
				}
				types, paths = append(types, t), append(paths, p)
			}
			return types, paths, nil
		}
		types, paths, err := entries("pod")
		if err != nil {
			return nil, err
		}
		for i, p := range paths {
			t, name := types[i], map[string]string{"bool": "boolean", "list": "array", "map": "object", "string": "string"}[types[i]]
			field := "variables.prefix + " + lit("."+strings.Join(p, "."))
			groups = append(groups, fmt.Sprintf(`[%s].filter(v, v != null && type(v) != %s).map(v, %s)`, get("variables.podSpec", p...), t,
				finding(field, `""`, fmt.Sprintf(`%s + " is " + %s + %s`, field, show("v"), lit(" but the API server requires a "+name+": write it as a "+name+" (the cluster rejects this manifest)")))))
		}
		types, paths, err = entries("container")
		if err != nil {
			return nil, err
		}
		for i, p := range paths {
			t, name := types[i], map[string]string{"bool": "boolean", "list": "array", "map": "object", "string": "string"}[types[i]]
			v := get("c.spec", p...)
			field := "c.path + " + lit("."+strings.Join(p, "."))
			groups = append(groups, fmt.Sprintf(`variables.containers.filter(c, %s != null && type(%s) != %s).map(c, %s)`, v, v, t,
				finding(field, "c.name", fmt.Sprintf(`%s + " is " + %s + %s`, field, showScalar(v), lit(" but the API server requires a "+name+": write it as a "+name+" (the cluster rejects this manifest)")))))
		}
		for _, l := range []string{"initContainers", "containers", "ephemeralContainers"} {
			field := fmt.Sprintf(`variables.prefix + %s + string(i) + "]"`, lit("."+l+"["))
			groups = append(groups, fmt.Sprintf(`(%s in variables.podSpec && type(variables.podSpec[%s]) == list ? variables.podSpec[%s].transformList(i, item, type(item) != map, %s) : [])`,
				lit(l), lit(l), lit(l), finding(field, `""`, fmt.Sprintf(`%s + " is " + %s + %s`, field, showScalar("item"), lit(" but a container must be an object: fix the list (the cluster rejects this manifest)")))))
		}
		return groups, nil

	case "values-agree":
		key := argLast(args, "path")
		vf := lit("." + valueField(key))
		return []string{fmt.Sprintf(`type(variables.pod_%[1]s) == bool ? variables.containers.filter(c, type(c[%[2]s]) == bool && c[%[2]s] != variables.pod_%[1]s).map(c, %[3]s) : []`,
			key, lit(key), finding("c.path + "+vf, "c.name", fmt.Sprintf(`c.path + %[1]s + " is " + string(c[%[2]s]) + " but " + variables.prefix + %[1]s + " is " + string(variables.pod_%[3]s) + %[4]s`,
				vf, lit(key), key, lit(": the API server rejects a pod whose pod and container values differ; remove the container value or make it equal to the pod value"))))}, nil

	case "all-or-none":
		field := "c.path + " + lit("."+valueField("hostProcess"))
		return []string{fmt.Sprintf(`variables.isHostProcessPod ? variables.containers.filter(c, !c.isHostProcess).map(c, %s) : []`,
			finding(field, "c.name", fmt.Sprintf(`"container " + strings.quote(c.name) + " is not a HostProcess container (" + %s + " is " + %s + %s`, field, showScalar("c.hostProcess"),
				lit(") but other containers of the pod are: a pod runs only HostProcess containers or none; set hostProcess: true at pod level and remove the container's value, or move the container to another pod"))))}, nil

	case "pod-field-equals":
		path := argStrings(args, "path")
		want, err := json.Marshal(args["value"])
		if err != nil {
			return nil, err
		}
		wantCEL, err := celLiteral(args["value"])
		if err != nil {
			return nil, err
		}
		field := "variables.prefix + " + lit("."+strings.Join(path, "."))
		return []string{fmt.Sprintf(`[%s].filter(v, variables.isHostProcessPod && v != %s).map(v, %s)`, get("variables.podSpec", path...), wantCEL,
			finding(field, `""`, fmt.Sprintf(`%s + " is " + %s + %s`, field, show("v"), lit(" but a pod with HostProcess containers requires "+string(want)+": "+argString(args, "fix")))))}, nil

	case "os-windows-options":
		valid := strList(argStrings(args, "validNames"))
		osName := get("variables.podSpec", "os", "name")
		linuxMsg := lit(` is set but `) + ` + variables.prefix + ` + lit(`.os.name is "linux": the API server rejects windows options on a linux pod; set os.name to "windows" for a HostProcess pod, or remove windowsOptions`)
		return []string{
			fmt.Sprintf(`[%s].filter(os, os != null && type(os) == map && !((%s) in %s)).map(os, %s)`, get("variables.podSpec", "os"), getOr("os", `""`, "name"), valid,
				finding(`variables.prefix + ".os.name"`, `""`, fmt.Sprintf(`variables.prefix + ".os.name is " + %s + %s + variables.prefix + ".os"`, show(getOr("os", `""`, "name")),
					lit(` but the API server accepts only "windows" or "linux" (lower case): set it to "windows" or remove `)))),
			fmt.Sprintf(`%s == "linux" && %s != null ? [%s] : []`, osName, get("variables.podSpec", "securityContext", "windowsOptions"),
				finding(`variables.prefix + ".securityContext.windowsOptions"`, `""`, `variables.prefix + ".securityContext.windowsOptions" + `+linuxMsg)),
			fmt.Sprintf(`%s == "linux" ? variables.containers.filter(c, %s != null).map(c, %s) : []`, osName, get("c.spec", "securityContext", "windowsOptions"),
				finding(`c.path + ".securityContext.windowsOptions"`, "c.name", `c.path + ".securityContext.windowsOptions" + `+linuxMsg)),
		}, nil

	case "user-name-format":
		vf := lit("." + valueField("runAsUserName"))
		b.add("locations", fmt.Sprintf(`(type(variables.pod_runAsUserName) == string ? [{"value": dyn(variables.pod_runAsUserName), "field": dyn(variables.prefix + %[1]s), "container": dyn("")}] : []) + variables.containers.filter(c, type(c.runAsUserName) == string).map(c, {"value": dyn(c.runAsUserName), "field": dyn(c.path + %[1]s), "container": dyn(c.name)})`, vf))
		b.add("names", `variables.locations.filter(l, l.value != "" && !l.value.matches("[[:cntrl:]]") && size(l.value.split("\\")) <= 2).map(l, {"loc": dyn(l), "hasDomain": dyn(size(l.value.split("\\")) == 2), "domain": dyn(size(l.value.split("\\")) == 2 ? l.value.split("\\")[0] : ""), "user": dyn(size(l.value.split("\\")) == 2 ? l.value.split("\\")[1] : l.value)})`)
		msg := func(loc, reason string) string {
			return finding(loc+".field", loc+".container", fmt.Sprintf(`%s.field + " is " + %s + " but " + %s + %s`, loc, showString(loc+".value"), reason,
				lit(`, so the API server rejects it: write DOMAIN\user with one backslash (for example "NT AUTHORITY\LocalService") or a local group name`)))
		}
		maxDomain, maxUser := fmt.Sprint(args["maxDomainBytes"]), fmt.Sprint(args["maxUserBytes"])
		byLoc := func(cond, reason string) string {
			return fmt.Sprintf(`variables.locations.filter(l, %s).map(l, %s)`, cond, msg("l", lit(reason)))
		}
		byName := func(cond, reason string) string {
			return fmt.Sprintf(`variables.names.filter(n, %s).map(n, %s)`, cond, msg("n.loc", lit(reason)))
		}
		return []string{
			byLoc(`l.value == ""`, "it is empty"),
			byLoc(`l.value.matches("[[:cntrl:]]")`, "it contains control characters"),
			byLoc(`!l.value.matches("[[:cntrl:]]") && size(l.value.split("\\")) > 2`, "it contains more than one backslash"),
			byName(`n.hasDomain && size(bytes(n.domain)) > `+maxDomain, "its domain is longer than "+maxDomain+" bytes"),
			byName(fmt.Sprintf(`n.hasDomain && !n.domain.matches(%s) && !n.domain.matches(%s)`, lit(argString(args, "netbiosPattern")), lit(argString(args, "dnsPattern"))), "its domain is neither a NetBIOS name nor a DNS name"),
			byName(`n.user == ""`, "its user part is empty"),
			byName(`size(bytes(n.user)) > `+maxUser, "its user part is longer than "+maxUser+" bytes"),
			byName(fmt.Sprintf(`n.user.matches(%s)`, lit(argString(args, "onlyDotsAndSpaces"))), "its user part is only periods or spaces"),
			byName(fmt.Sprintf(`n.user.matches(%s)`, lit(argString(args, "invalidUserCharacters"))), `its user part contains one of " / \ : ; | = , + * ? < > @ [ ]`),
		}, nil

	case "effective-required":
		key := argLast(args, "path")
		return []string{fmt.Sprintf(`variables.hpContainers.filter(c, %s == null).map(c, %s)`, effective("c", key),
			finding(sourceField("c", key), "c.name", fmt.Sprintf(`%s + " is not set, and neither is the pod's, but HostProcess container " + strings.quote(c.name) + %s`, sourceField("c", key),
				lit(" needs an account to run as: set "+valueField(key)+` at pod level or on the container, for example "NT AUTHORITY\LocalService"`))))}, nil

	case "account-allowlist":
		domain := argString(args, "serviceDomain")
		// Allow-lists fold ASCII letters only (lowerAscii); the never-allowed groups are a deny-list
		// pattern (nameComparison).
		never := lit(b.names.DenyPattern(argStrings(args, "neverAllowedGroups"), false, false))
		b.add("allowedAccounts", `variables.param_allowedServiceAccounts.map(a, a.lowerAscii())`)
		b.add("allowedGroups", `variables.param_allowedLocalGroups.map(a, a.lowerAscii())`)
		b.add("cands", fmt.Sprintf(`(%s).filter(x, type(x.value) == string)`, sourced("runAsUserName")))
		allowed := fmt.Sprintf(`((size(x.value.split("\\")) == 2 && x.value.split("\\")[0] == %s && x.value.split("\\")[1].lowerAscii() in variables.allowedAccounts) || (!x.value.contains("\\") && !x.value.matches(%s) && x.value.lowerAscii() in variables.allowedGroups))`, lit(domain), never)
		reason := fmt.Sprintf(`(!x.value.contains("\\") && x.value.matches(`+never+`) ? %s : !x.value.contains("\\") ? "local group " + strings.quote(x.value) + " is not in allowedLocalGroups" : size(x.value.split("\\")) == 2 && x.value.split("\\")[0] != %s ? %s : x.value.matches(%s) ? %s : %s)`,
			lit("it is a built-in privileged group, which is never allowed"), lit(domain), lit(fmt.Sprintf("the domain must be exactly %q (case-sensitive)", domain)),
			lit(`[^\x00-\x7f]`), lit("the account is not one of the allowed service accounts (it has characters outside ASCII, which never match one: write the account in ASCII)"),
			lit("the account is not one of the allowed service accounts"))
		return []string{(fmt.Sprintf(`variables.cands.filter(x, !%s).map(x, %s)`, allowed,
			finding("x.field", "x.container", fmt.Sprintf(`x.field + " is " + %s + ", which HostProcess containers may not run as: " + %s + %s`, showString("x.value"), reason,
				lit(`; use "NT AUTHORITY\LocalService", "NT AUTHORITY\NetworkService" or "NT AUTHORITY\SYSTEM", or a local group listed in allowedLocalGroups`)))))}, nil

	case "account-denylist":
		domain := argString(args, "domain")
		var names []string
		for _, a := range argStrings(args, "accounts") {
			names = append(names, domain+`\`+a)
		}
		optIn := argString(args, "optIn")
		return []string{(fmt.Sprintf(`variables.param_%s == true ? [] : (%s).filter(x, type(x.value) == string && x.value.matches(%s)).map(x, %s)`,
			optIn, sourced("runAsUserName"), lit(b.names.DenyPattern(names, false, false)),
			finding("x.field", "x.container", fmt.Sprintf(`x.field + " is " + %s + %s`, showString("x.value"),
				lit(` (LocalSystem), the most privileged account: use "NT AUTHORITY\LocalService" or "NT AUTHORITY\NetworkService" unless the workload needs SYSTEM (then set `+optIn+`)`)))))}, nil

	case "effective-forbidden-value":
		key := argLast(args, "path")
		forbidden, err := celLiteral(args["value"])
		if err != nil {
			return nil, err
		}
		j, _ := json.Marshal(args["value"])
		return []string{(fmt.Sprintf(`(%s).filter(x, x.value == %s).map(x, %s)`, sourced(key), forbidden,
			finding("x.field", "x.container", fmt.Sprintf(`%s + %s`, "x.field",
				lit(" is "+string(j)+" but HostProcess containers run with privileged access to the host, so it cannot be "+string(j)+": remove it or set it to false")))))}, nil

	case "node-targeting":
		label, want := argString(args, "label"), argString(args, "value")
		value := get("variables.podSpec", "nodeSelector", label)
		b.add("nodeSelectorValue", value)
		terms := get("variables.podSpec", "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms")
		b.add("targeted", fmt.Sprintf(`variables.nodeSelectorValue == %[1]s || (type(%[2]s) == list && size(%[2]s) > 0 && %[2]s.all(t, type(t) == map && "matchExpressions" in t && type(t.matchExpressions) == list && t.matchExpressions.exists(e, %[3]s == %[4]s && %[5]s == "In" && type(%[6]s) == list && size(%[6]s) > 0 && %[6]s.all(v, v == %[1]s)))) || %[7]s in variables.param_allowedRuntimeClasses`,
			lit(want), terms, get("e", "key"), lit(label), get("e", "operator"), get("e", "values"), get("variables.podSpec", "runtimeClassName")))
		field := "variables.prefix + " + lit(".nodeSelector["+label+"]")
		return []string{
			fmt.Sprintf(`variables.isHostProcessPod && variables.nodeSelectorValue != null && variables.nodeSelectorValue != %s ? [%s] : []`, lit(want),
				finding(field, `""`, fmt.Sprintf(`%s + " is " + %s + %s`, field, show("variables.nodeSelectorValue"), lit(fmt.Sprintf(" but HostProcess containers run only on Windows nodes: set it to %q", want))))),
			fmt.Sprintf(`variables.isHostProcessPod && variables.nodeSelectorValue == null && !variables.targeted ? [%s] : []`,
				finding(`variables.prefix + ".nodeSelector"`, `""`, fmt.Sprintf(`%s + variables.prefix + %s`,
					lit(fmt.Sprintf("the pod has HostProcess containers but nothing keeps it off Linux nodes (spec.os does not): add nodeSelector %s: %s at ", label, want)),
					lit(fmt.Sprintf(".nodeSelector, a required node affinity whose every term selects %s In [%s], or a runtimeClassName listed in allowedRuntimeClasses", label, want))))),
		}, nil

	case "host-path-forbidden":
		b.add("volumes", fmt.Sprintf(`type(%[1]s) == list ? %[1]s : []`, get("variables.podSpec", "volumes")))
		path, typ := get("v", "hostPath", "path"), get("v", "hostPath", "type")
		name := fmt.Sprintf(`strings.quote(string(%s))`, getOr("v", `""`, "name"))
		return []string{
			fmt.Sprintf(`variables.isHostProcessPod ? variables.volumes.transformList(i, v, type(%[1]s) == string && %[1]s.matches(%[2]s), %[3]s) : []`,
				path, lit(b.names.DenyPattern(argStrings(args, "pathPrefixes"), true, true)),
				finding(`variables.prefix + ".volumes[" + string(i) + "].hostPath.path"`, `""`, fmt.Sprintf(`variables.prefix + ".volumes[" + string(i) + "].hostPath.path is " + %s + ", a named pipe: HostProcess containers cannot mount named pipes; remove volume " + %s + " and open the pipe by its host path from the container"`, showString(path), name))),
			fmt.Sprintf(`variables.isHostProcessPod ? variables.volumes.transformList(i, v, %s in %s, %s) : []`, typ, strList(argStrings(args, "types")),
				finding(`variables.prefix + ".volumes[" + string(i) + "].hostPath.type"`, `""`, fmt.Sprintf(`variables.prefix + ".volumes[" + string(i) + "].hostPath.type is " + %s + ": HostProcess containers cannot mount Unix domain sockets; remove volume " + %s + " and open the socket by its host path from the container"`, showScalar(typ), name))),
		}, nil

	case "annotation-forbidden":
		key := argString(args, "key")
		field := "variables.metaPrefix + " + lit(".annotations["+key+"]")
		return []string{fmt.Sprintf(`[%s].filter(v, variables.isHostProcessPod && v != null && !(v in %s)).map(v, %s)`, get("variables.podMeta", "annotations", key), strList(argStrings(args, "allowedValues")),
			finding(field, `""`, fmt.Sprintf(`%s + " is " + %s + %s`, field, show("v"), lit(": the containers would ignore runAsUserName and run as SYSTEM with the runtime's token; remove the annotation and set runAsUserName"))))}, nil

	case "explicit-value-forbidden":
		key := argLast(args, "path")
		forbidden, err := celLiteral(args["value"])
		if err != nil {
			return nil, err
		}
		j, _ := json.Marshal(args["value"])
		// The account the pod runs as, read as the API server does: serviceAccountName, else the
		// deprecated alias serviceAccount, else "default".
		b.add("serviceAccountName", get("variables.podSpec", "serviceAccountName"))
		b.add("serviceAccountAlias", get("variables.podSpec", "serviceAccount"))
		b.add("serviceAccount", `variables.serviceAccountName != null && variables.serviceAccountName != "" ? variables.serviceAccountName : variables.serviceAccountAlias != null && variables.serviceAccountAlias != "" ? variables.serviceAccountAlias : "default"`)
		b.add("exemptPod", `variables.namespace in variables.param_exemptNamespaces || variables.serviceAccount in variables.param_exemptServiceAccounts || (type(variables.serviceAccount) == string && variables.namespace + "/" + variables.serviceAccount in variables.param_exemptServiceAccounts)`)
		exemptImage := func(img string) string {
			return fmt.Sprintf(`(%[1]s in variables.param_exemptImages || (type(%[1]s) == string && variables.param_exemptImages.exists(e, (e.startsWith("sha256:") && %[1]s.endsWith("@" + e)) || (e.endsWith("*") && %[1]s.startsWith(e.substring(0, size(e) - 1))))))`, img)
		}
		b.add("allImagesExempt", fmt.Sprintf(`size(variables.containers) > 0 && variables.containers.all(c, %s)`, exemptImage(getOr("c.spec", `""`, "image"))))
		msg := func(field string) string {
			return fmt.Sprintf(`%s + %s`, field, lit(" is "+string(j)+": HostProcess containers are not allowed by this profile (Pod Security baseline); remove it, or exempt the namespace, service account or image in the "+b.rule.ID+" parameters"))
		}
		podField := "variables.prefix + " + lit("."+valueField(key))
		cField := "c.path + " + lit("."+valueField(key))
		return []string{
			fmt.Sprintf(`variables.pod_%s == %s && !variables.exemptPod && !variables.allImagesExempt ? [%s] : []`, key, forbidden, finding(podField, `""`, msg(podField))),
			fmt.Sprintf(`variables.exemptPod ? [] : variables.containers.filter(c, c[%s] == %s && !%s).map(c, %s)`, lit(key), forbidden, exemptImage(getOr("c.spec", `""`, "image")), finding(cField, "c.name", msg(cField))),
		}, nil

	case "container-limits":
		field := `c.path + ".resources.limits." + r`
		limits := get("c.spec", "resources", "limits")
		return []string{"@" + fmt.Sprintf(`variables.hpContainers.filter(c, c.list in %s).map(c, variables.param_resources.filter(r, !(type(%s) == map && r in %s && %s[r] != null)).map(r, %s))`,
			strList(argStrings(args, "lists")), limits, limits, limits,
			finding(field, "c.name", fmt.Sprintf(`"HostProcess container " + strings.quote(c.name) + " sets no " + r + " limit (" + %s + "): HostProcess containers share the node's resources, limited only by their job object; set resources.limits." + r`, field)))}, nil
	}
	return nil, fmt.Errorf("no CEL form for check kind %q", b.rule.Check.Kind)
}

// VAPDir is where the ValidatingAdmissionPolicies are written: policies/<rule>.yaml (one policy per
// rule), profiles/<profile>/ (a binding per rule of the profile, with its validationActions, and the
// rule's parameters), and params-crd.yaml (the parameters resource).
const VAPDir = "vap"

// VAP parameter resource: a cluster-scoped HPGuardParameters object whose spec holds a rule's
// parameters (absent keys take the spec defaults).
const (
	VAPParamsGroup   = "hpguard.dev"
	VAPParamsVersion = "v1alpha1"
	VAPParamsKind    = "HPGuardParameters"
	VAPParamsPlural  = "hpguardparameters"
)

// VAPName is the name of a rule's ValidatingAdmissionPolicy.
func VAPName(r *spec.Rule) string { return "hpguard-" + r.ID }

// VAPBindingName is the name of a rule's binding (and of its parameters object) in a profile.
func VAPBindingName(profile string, r *spec.Rule) string {
	return "hpguard-" + profile + "-" + r.ID
}

// vapResourceRules are the resources the policies match: Pods (also the ephemeralcontainers
// subresource) and every workload kind with a pod template, on CREATE and UPDATE.
func vapResourceRules() []admissionregistrationv1.NamedRuleWithOperations {
	rule := func(group, version string, resources ...string) admissionregistrationv1.NamedRuleWithOperations {
		return admissionregistrationv1.NamedRuleWithOperations{RuleWithOperations: admissionregistrationv1.RuleWithOperations{
			Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
			Rule:       admissionregistrationv1.Rule{APIGroups: []string{group}, APIVersions: []string{version}, Resources: resources},
		}}
	}
	return []admissionregistrationv1.NamedRuleWithOperations{
		rule("", "v1", "pods", "pods/ephemeralcontainers", "podtemplates", "replicationcontrollers"),
		rule("apps", "v1", "replicasets", "deployments", "daemonsets", "statefulsets"),
		rule("batch", "v1", "jobs", "cronjobs"),
	}
}

// ValidatingAdmissionPolicy is the v1 ValidatingAdmissionPolicy of a rule.
func ValidatingAdmissionPolicy(s *spec.Spec, r *spec.Rule) (*admissionregistrationv1.ValidatingAdmissionPolicy, error) {
	c, err := CEL(s, r, CELParamsVAP)
	if err != nil {
		return nil, err
	}
	fail := admissionregistrationv1.Fail
	equivalent := admissionregistrationv1.Equivalent
	p := &admissionregistrationv1.ValidatingAdmissionPolicy{
		TypeMeta: metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingAdmissionPolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: VAPName(r), Labels: map[string]string{"app.kubernetes.io/part-of": s.Ruleset.Name},
			Annotations: map[string]string{"hpguard.dev/rule": r.ID, "hpguard.dev/title": r.Title}},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: &fail,
			MatchConstraints: &admissionregistrationv1.MatchResources{
				MatchPolicy:   &equivalent,
				ResourceRules: vapResourceRules(),
			},
		},
	}
	if len(r.Parameters) > 0 {
		p.Spec.ParamKind = &admissionregistrationv1.ParamKind{APIVersion: VAPParamsGroup + "/" + VAPParamsVersion, Kind: VAPParamsKind}
	}
	for _, v := range c.Variables {
		p.Spec.Variables = append(p.Spec.Variables, admissionregistrationv1.Variable{Name: v.Name, Expression: v.Expression})
	}
	for _, v := range c.Validations {
		reason := metav1.StatusReasonInvalid
		p.Spec.Validations = append(p.Spec.Validations, admissionregistrationv1.Validation{
			Expression: v.Expression, MessageExpression: v.MessageExpression,
			Message: fmt.Sprintf("hpguard rule %s: %s", r.ID, r.Title), Reason: &reason,
		})
	}
	return p, nil
}

// ValidatingAdmissionPolicyBinding binds a rule's policy in a profile, with the profile's severity
// as validationActions (deny: Deny and Audit; warn: Warn and Audit).
func ValidatingAdmissionPolicyBinding(r *spec.Rule, profile string, sev spec.Severity) *admissionregistrationv1.ValidatingAdmissionPolicyBinding {
	actions := []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny, admissionregistrationv1.Audit}
	if sev == spec.Warn {
		actions = []admissionregistrationv1.ValidationAction{admissionregistrationv1.Warn, admissionregistrationv1.Audit}
	}
	b := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingAdmissionPolicyBinding"},
		ObjectMeta: metav1.ObjectMeta{Name: VAPBindingName(profile, r), Labels: map[string]string{"hpguard.dev/profile": profile}, Annotations: map[string]string{"hpguard.dev/rule": r.ID}},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        VAPName(r),
			ValidationActions: actions,
		},
	}
	if len(r.Parameters) > 0 {
		deny := admissionregistrationv1.DenyAction
		b.Spec.ParamRef = &admissionregistrationv1.ParamRef{Name: VAPBindingName(profile, r), ParameterNotFoundAction: &deny}
	}
	return b
}

// vapParams is a rule's parameters object in a profile (the spec defaults).
func vapParams(r *spec.Rule, profile string) map[string]any {
	params := map[string]any{}
	for _, p := range r.Parameters {
		params[p.Name] = p.Default
	}
	return map[string]any{
		"apiVersion": VAPParamsGroup + "/" + VAPParamsVersion,
		"kind":       VAPParamsKind,
		"metadata":   map[string]any{"name": VAPBindingName(profile, r), "labels": map[string]any{"hpguard.dev/profile": profile}, "annotations": map[string]any{"hpguard.dev/rule": r.ID}},
		"spec":       params,
	}
}

// vapParamsCRD is the CustomResourceDefinition of the parameters resource.
func vapParamsCRD() map[string]any {
	return map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1",
		"kind":       "CustomResourceDefinition",
		"metadata":   map[string]any{"name": VAPParamsPlural + "." + VAPParamsGroup},
		"spec": map[string]any{
			"group": VAPParamsGroup,
			"names": map[string]any{"kind": VAPParamsKind, "listKind": VAPParamsKind + "List", "plural": VAPParamsPlural, "singular": strings.ToLower(VAPParamsKind)},
			"scope": "Cluster",
			"versions": []any{map[string]any{
				"name": VAPParamsVersion, "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{
					"type":        "object",
					"description": "The parameters of one hpguard rule (spec), read by its ValidatingAdmissionPolicy.",
					"properties": map[string]any{
						"spec": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true},
					},
				}},
			}},
		},
	}
}

// vapYAML marshals objects as a YAML stream with the generated-file header.
func vapYAML(objs ...any) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString("# " + Header + "\n")
	for i, o := range objs {
		b, err := json.Marshal(o)
		if err != nil {
			return nil, err
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, err
		}
		if md, ok := m["metadata"].(map[string]any); ok {
			delete(md, "creationTimestamp")
		}
		if i > 0 {
			buf.WriteString("---\n")
		}
		enc := yaml3.NewEncoder(&buf)
		enc.SetIndent(2)
		if err := enc.Encode(m); err != nil {
			return nil, err
		}
		if err := enc.Close(); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}

// VAP generates the ValidatingAdmissionPolicy artifacts under VAPDir.
func VAP(s *spec.Spec) ([]File, error) {
	var files []File
	crd, err := vapYAML(vapParamsCRD())
	if err != nil {
		return nil, err
	}
	files = append(files, File{Path: VAPDir + "/params-crd.yaml", Data: crd})
	files = append(files, File{Path: VAPDir + "/embed.go", Data: []byte(vapEmbed)})
	for _, r := range s.Rules {
		p, err := ValidatingAdmissionPolicy(s, r)
		if err != nil {
			return nil, err
		}
		data, err := vapYAML(p)
		if err != nil {
			return nil, err
		}
		files = append(files, File{Path: VAPDir + "/policies/" + r.ID + ".yaml", Data: data})
	}
	for _, prof := range s.Ruleset.Profiles {
		for _, r := range s.Rules {
			sev, ok := prof.Rules[r.ID]
			if !ok {
				continue
			}
			objs := []any{ValidatingAdmissionPolicyBinding(r, prof.Name, sev)}
			if len(r.Parameters) > 0 {
				objs = append(objs, vapParams(r, prof.Name))
			}
			data, err := vapYAML(objs...)
			if err != nil {
				return nil, err
			}
			files = append(files, File{Path: VAPDir + "/profiles/" + prof.Name + "/" + r.ID + ".yaml", Data: data})
		}
	}
	return files, nil
}

// vapEmbed is vap/embed.go: the policies and profiles embedded in the binary for `check --engine cel`.
const vapEmbed = `// Code generated by hpguard; DO NOT EDIT.

// Package vap holds the generated ValidatingAdmissionPolicies, their per-profile bindings and
// parameters, embedded so that hpguard evaluates exactly the policies it ships.
package vap

import (
	"embed"
	"io/fs"
)

//go:embed policies/*.yaml profiles/*/*.yaml
var files embed.FS

// FS returns policies/<rule>.yaml and profiles/<profile>/<rule>.yaml.
func FS() fs.FS { return files }
`
