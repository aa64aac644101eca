package generator

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"text/template"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/format"
	"sigs.k8s.io/yaml"

	"github.com/hpguard/hpguard/generator/checks"
	_ "github.com/hpguard/hpguard/generator/checks/all"
	"github.com/hpguard/hpguard/generator/spec"
	"github.com/hpguard/hpguard/internal/ruleset"
	"github.com/hpguard/hpguard/internal/workload"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

// RegoDir is where the Rego policies are written.
const RegoDir = "policies/rego"

// Variant selects where generated Rego lives and where it reads rule parameters from, so that the same
// rule logic serves OPA and conftest (data.<pkg>.params) and Gatekeeper (input.parameters).
type Variant struct {
	// LibPackage is the shared library's package, e.g. "hpguard.lib.core".
	LibPackage string
	// RulePackage returns a rule's package.
	RulePackage func(r *spec.Rule) string
	// ParamsRef returns the Rego reference holding the operator's parameters for a rule.
	ParamsRef func(r *spec.Rule) string
}

// OPAVariant is the variant shipped in policies/rego and the bundle.
func OPAVariant(s *spec.Spec) Variant {
	root := s.Ruleset.Package
	return Variant{
		LibPackage:  root + ".lib.core",
		RulePackage: func(r *spec.Rule) string { return root + ".rules." + regoName(r.ID) },
		ParamsRef:   func(r *spec.Rule) string { return fmt.Sprintf("data.%s.params[%q]", root, r.ID) },
	}
}

func templates() (*template.Template, error) {
	return template.New("rego").Funcs(template.FuncMap{
		"rego": func(v any) (string, error) {
			b, err := json.Marshal(v)
			return string(b), err
		},
	}).ParseFS(templateFS, "templates/*.tmpl")
}

// resolve decodes the rules' check arguments (checks.Resolve), once.
func resolve(s *spec.Spec) error {
	for _, r := range s.Rules {
		if r.Check.Typed == nil {
			return checks.Resolve(s)
		}
	}
	return nil
}

// LibModule renders the shared library for a variant.
func LibModule(s *spec.Spec, v Variant) (string, error) {
	t, err := templates()
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "lib.rego.tmpl", map[string]any{"Ruleset": s.Ruleset, "LibPackage": v.LibPackage, "Root": s.Ruleset.Package, "ASCIIFold": ruleset.ASCIIUpperToLower(), "Workloads": workload.Kinds}); err != nil {
		return "", err
	}
	return formatRego("lib.rego", "# "+Header+"\n"+buf.String())
}

// RuleModule renders one rule's module for a variant (extra is appended before formatting).
func RuleModule(s *spec.Spec, r *spec.Rule, v Variant, extra string) (string, error) {
	t, err := templates()
	if err != nil {
		return "", err
	}
	meta, err := ruleMetadata(s, r)
	if err != nil {
		return "", err
	}
	if err := resolve(s); err != nil {
		return "", err
	}
	names := NameComparison(s)
	check, err := checks.RenderRego(r, &names)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	data := map[string]any{
		"Metadata":   meta,
		"Package":    v.RulePackage(r),
		"LibPackage": v.LibPackage,
		"ParamsRef":  v.ParamsRef(r),
		"Rule":       r,
		"Check":      check,
	}
	if err := t.ExecuteTemplate(&buf, "rule.rego.tmpl", data); err != nil {
		return "", fmt.Errorf("rule %s: %w", r.ID, err)
	}
	return formatRego(r.ID+".rego", "# "+Header+"\n"+buf.String()+extra)
}

type annotation struct {
	Title            string         `json:"title"`
	Description      string         `json:"description"`
	RelatedResources []related      `json:"related_resources,omitempty"`
	Custom           map[string]any `json:"custom"`
}

type related struct {
	Ref         string `json:"ref"`
	Description string `json:"description"`
}

// ruleMetadata renders the rule's # METADATA block from the spec.
func ruleMetadata(s *spec.Spec, r *spec.Rule) (string, error) {
	sev := map[string]string{}
	for _, p := range s.Ruleset.Profiles {
		if v, ok := p.Rules[r.ID]; ok {
			sev[p.Name] = string(v)
		}
	}
	a := annotation{
		Title:       r.Title,
		Description: strings.TrimSpace(r.Description),
		Custom: map[string]any{
			"id":          r.ID,
			"reference":   r.Reference,
			"scope":       string(r.Scope),
			"severity":    sev,
			"remediation": strings.TrimSpace(r.Remediation),
		},
	}
	for _, src := range r.Sources {
		a.RelatedResources = append(a.RelatedResources, related{Ref: src.URL, Description: src.Title})
	}
	return metadataBlock(a)
}

// metadataBlock renders an annotation as a # METADATA comment block.
func metadataBlock(a annotation) (string, error) {
	y, err := yaml.Marshal(a)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("# METADATA\n")
	for _, line := range strings.Split(strings.TrimRight(string(y), "\n"), "\n") {
		b.WriteString(strings.TrimRight("# "+line, " ") + "\n")
	}
	return b.String(), nil
}

// profileModule renders a profile package: findings (with rule and severity), deny and warn.
func profileModule(s *spec.Spec, p spec.Profile) (string, error) {
	root := s.Ruleset.Package
	var b strings.Builder
	meta, err := metadataBlock(annotation{Title: "Profile " + p.Name, Description: strings.TrimSpace(p.Description), Custom: map[string]any{"profile": p.Name}})
	if err != nil {
		return "", err
	}
	fmt.Fprintf(&b, "# %s\n%spackage %s.profiles.%s\n\n", Header, meta, root, regoName(p.Name))
	b.WriteString("# findings are the findings of every rule of the profile, with rule id and severity.\n")
	ids := make([]string, 0, len(p.Rules))
	for id := range p.Rules {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		// Rules that only concern HostProcess pods are not evaluated at all for other pods.
		gate := ""
		if r := s.RuleByID(id); r != nil && r.Scope == spec.ScopeHostProcessPods {
			gate = fmt.Sprintf("\tdata.%s.lib.core.is_hostprocess_pod\n", root)
		}
		fmt.Fprintf(&b, "findings contains object.union(f, {\"rule\": %q, \"severity\": %q}) if {\n%s\tsome f in data.%s.rules.%s.findings\n}\n\n", id, p.Rules[id], gate, root, regoName(id))
	}
	b.WriteString("# deny and warn give conftest-style results: objects whose msg is the finding's message.\n")
	b.WriteString("deny contains f if {\n\tsome f in findings\n\tf.severity == \"deny\"\n}\n\n")
	b.WriteString("warn contains f if {\n\tsome f in findings\n\tf.severity == \"warn\"\n}\n")
	return formatRego(p.Name+".rego", b.String())
}

// admissionModule renders a profile's admission entry point: the profile's findings for the object
// of an AdmissionReview request (OPA as a validating admission webhook), deny, warn and the
// AdmissionReview response. The object is taken from input.request.object and passed to the library
// with `with`: nothing in the object decides what is evaluated.
func admissionModule(s *spec.Spec, p spec.Profile) (string, error) {
	root := s.Ruleset.Package
	name := regoName(p.Name)
	meta, err := metadataBlock(annotation{
		Title:       "Admission entry point, profile " + p.Name,
		Description: "The findings of profile " + p.Name + " for the object of an AdmissionReview request (input.request.object), and the AdmissionReview response for OPA as a validating admission webhook.",
		Custom:      map[string]any{"profile": p.Name},
	})
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n%spackage %s.admission.%s\n\n", Header, meta, root, name)
	b.WriteString("# findings are the profile's findings for the request's object, as the library's object under review.\n")
	fmt.Fprintf(&b, "findings := fs if {\n\tobj := input.request.object\n\tfs := data.%s.profiles.%s.findings with data.%s.lib.core.obj as obj\n}\n\n", root, name, root)
	b.WriteString("deny contains f if {\n\tsome f in findings\n\tf.severity == \"deny\"\n}\n\n")
	b.WriteString("warn contains f if {\n\tsome f in findings\n\tf.severity == \"warn\"\n}\n\n")
	b.WriteString(`# messages renders findings as "[rule] field: message", sorted.
messages(fs) := sort([sprintf("[%s] %s", [f.rule, f.msg]) | some f in fs])

# response is the AdmissionReview response: denied with every deny message, warnings for the rest.
response := {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": r} if {
	count(deny) == 0
	r := {"uid": object.get(input, ["request", "uid"], ""), "allowed": true, "warnings": messages(warn)}
} else := {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": r} if {
	r := {
		"uid": object.get(input, ["request", "uid"], ""),
		"allowed": false,
		"status": {"code": 403, "reason": "Forbidden", "message": concat("\n", messages(deny))},
		"warnings": messages(warn),
	}
}
`)
	return formatRego(p.Name+".rego", b.String())
}

func formatRego(name, src string) (string, error) {
	out, err := format.SourceWithOpts(name, []byte(src), format.Opts{RegoVersion: ast.RegoV1})
	if err != nil {
		return "", fmt.Errorf("format %s: %w\n%s", name, err, numbered(src))
	}
	return string(out), nil
}

func numbered(src string) string {
	var b strings.Builder
	for i, l := range strings.Split(src, "\n") {
		fmt.Fprintf(&b, "%4d %s\n", i+1, l)
	}
	return b.String()
}

// Rego renders policies/rego: the library, one package per rule with its golden tests, and one
// package per profile; everything is compiled in strict mode before it is returned.
func Rego(s *spec.Spec) ([]File, error) {
	v := OPAVariant(s)
	var files []File
	lib, err := LibModule(s, v)
	if err != nil {
		return nil, err
	}
	files = append(files, File{Path: RegoDir + "/lib/core.rego", Data: []byte(lib)})
	cases, err := Cases(s)
	if err != nil {
		return nil, err
	}
	for _, r := range s.Rules {
		mod, err := RuleModule(s, r, v, "")
		if err != nil {
			return nil, err
		}
		files = append(files, File{Path: fmt.Sprintf("%s/rules/%s.rego", RegoDir, regoName(r.ID)), Data: []byte(mod)})
		test, err := ruleTests(s, r, v, cases)
		if err != nil {
			return nil, err
		}
		files = append(files, File{Path: fmt.Sprintf("%s/rules/%s_test.rego", RegoDir, regoName(r.ID)), Data: []byte(test)})
	}
	for _, p := range s.Ruleset.Profiles {
		mod, err := profileModule(s, p)
		if err != nil {
			return nil, err
		}
		files = append(files, File{Path: fmt.Sprintf("%s/profiles/%s.rego", RegoDir, regoName(p.Name)), Data: []byte(mod)})
		adm, err := admissionModule(s, p)
		if err != nil {
			return nil, err
		}
		files = append(files, File{Path: fmt.Sprintf("%s/admission/%s.rego", RegoDir, regoName(p.Name)), Data: []byte(adm)})
	}
	if err := compileStrict(files); err != nil {
		return nil, err
	}
	return files, nil
}

// ruleTests renders the rule's golden Pod cases as OPA tests.
func ruleTests(s *spec.Spec, r *spec.Rule, v Variant, cases []Case) (string, error) {
	pkg := v.RulePackage(r)
	alias := regoName(r.ID)
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\npackage %s_test\n\nimport data.%s\n\n", Header, pkg, pkg)
	b.WriteString("# got projects the rule's findings to [field, container] pairs.\n")
	fmt.Fprintf(&b, "got(findings) := {[f.field, object.get(f, \"container\", \"\")] | some f in findings}\n\n")
	for _, c := range cases {
		if c.Rule != r.ID || c.Kind != "Pod" {
			continue
		}
		in, err := json.Marshal(c.Object)
		if err != nil {
			return "", err
		}
		want := make([][2]string, 0, len(c.Expect))
		for _, e := range c.Expect {
			want = append(want, [2]string{e.Field, e.Container})
		}
		wantJSON, _ := json.Marshal(want)
		verdict := "disallowed"
		if c.Allowed {
			verdict = "allowed"
		}
		name := regoName(strings.ReplaceAll(fmt.Sprintf("test_%s_%s_%s", verdict, c.Value, c.Level), ".", "_"))
		with := fmt.Sprintf("with input as %s", in)
		if len(c.Params) > 0 {
			pj, _ := json.Marshal(c.Params)
			with += fmt.Sprintf("\n\t\twith %s as %s", v.ParamsRef(r), pj)
		}
		fmt.Fprintf(&b, "%s if {\n\tgot(%s.findings) == {x | some x in %s} %s\n}\n\n", name, alias, wantJSON, with)
	}
	return formatRego(r.ID+"_test.rego", b.String())
}

// compileStrict parses and compiles the generated modules in strict mode.
func compileStrict(files []File) error {
	modules := map[string]*ast.Module{}
	for _, f := range files {
		if !strings.HasSuffix(f.Path, ".rego") {
			continue
		}
		m, err := ast.ParseModuleWithOpts(f.Path, string(f.Data), ast.ParserOptions{RegoVersion: ast.RegoV1, ProcessAnnotation: true})
		if err != nil {
			return fmt.Errorf("parse %s: %w", f.Path, err)
		}
		modules[f.Path] = m
	}
	c := ast.NewCompiler().WithStrict(true)
	c.Compile(modules)
	if c.Failed() {
		return fmt.Errorf("compile generated rego: %w", c.Errors)
	}
	return nil
}
