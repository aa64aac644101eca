package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	"github.com/hpguard/hpguard/internal/report"
)

// Evaluator evaluates one Kubernetes object and returns its findings, sorted.
type Evaluator interface {
	Evaluate(ctx context.Context, obj map[string]any) ([]report.Finding, error)
}

func init() {
	register(Kind{Name: "opa", Title: "OPA", build: func(ctx context.Context, src Sources, profile string, params Params) (Evaluator, error) {
		return evaluator(NewOPA(ctx, src.Policy, profile, params))
	}})
}

// OPA evaluates a profile of a Policy with the embedded OPA; safe for concurrent use.
type OPA struct {
	query   rego.PreparedEvalQuery
	Profile string
}

// NewOPA prepares the profile's query once; params override rule parameters. It is the manifest
// entry point: the object is the input document itself, whatever fields it carries.
func NewOPA(ctx context.Context, p *Policy, profile string, params Params) (*OPA, error) {
	q, err := prepare(ctx, p, profile, params, "data.%s.profiles.%s.findings")
	if err != nil {
		return nil, err
	}
	return &OPA{query: q, Profile: profile}, nil
}

// OPAAdmission evaluates AdmissionReviews through the admission entry point of a profile
// (data.<package>.admission.<profile>), as OPA does when it serves as a validating admission
// webhook: the object under review is the request's object.
type OPAAdmission struct {
	query   rego.PreparedEvalQuery
	Profile string
}

// NewOPAAdmission prepares the admission entry point of a profile.
func NewOPAAdmission(ctx context.Context, p *Policy, profile string, params Params) (*OPAAdmission, error) {
	q, err := prepare(ctx, p, profile, params, "data.%s.admission.%s")
	if err != nil {
		return nil, err
	}
	return &OPAAdmission{query: q, Profile: profile}, nil
}

// Review returns the findings and the response (the AdmissionReview's response field) for an
// AdmissionReview.
func (o *OPAAdmission) Review(ctx context.Context, admissionReview map[string]any) ([]report.Finding, map[string]any, error) {
	input, err := ast.InterfaceToValue(admissionReview)
	if err != nil {
		return nil, nil, fmt.Errorf("convert input: %w", err)
	}
	rs, err := o.query.Eval(ctx, rego.EvalParsedInput(input))
	if err != nil {
		return nil, nil, fmt.Errorf("evaluate: %w", err)
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return nil, nil, fmt.Errorf("evaluate: no admission result")
	}
	doc, _ := rs[0].Expressions[0].Value.(map[string]any)
	review, _ := doc["response"].(map[string]any)
	resp, _ := review["response"].(map[string]any)
	if review["kind"] != "AdmissionReview" || resp == nil {
		return nil, nil, fmt.Errorf("evaluate: malformed AdmissionReview response %v", doc["response"])
	}
	var out []report.Finding
	items, _ := doc["findings"].([]any)
	for _, it := range items {
		f, err := toFinding(it)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, f)
	}
	SortFindings(out)
	return out, resp, nil
}

// prepare compiles a profile's query (a format with the package root and the profile) with the
// parameters in data.<package>.params.
func prepare(ctx context.Context, p *Policy, profile string, params Params, query string) (rego.PreparedEvalQuery, error) {
	var none rego.PreparedEvalQuery
	if _, err := p.Ruleset.Profile(profile); err != nil {
		return none, err
	}
	if err := params.Validate(p.Ruleset); err != nil {
		return none, err
	}
	var data map[string]any
	if err := json.Unmarshal(p.Data, &data); err != nil {
		return none, fmt.Errorf("policy data: %w", err)
	}
	root := p.Ruleset.Package
	pkgData, _ := data[root].(map[string]any)
	if pkgData == nil {
		pkgData = map[string]any{}
		data[root] = pkgData
	}
	pv := map[string]any{}
	for id, m := range params {
		pv[id] = m
	}
	pkgData["params"] = pv
	opts := []func(*rego.Rego){
		rego.Query(fmt.Sprintf(query, root, strings.ReplaceAll(profile, "-", "_"))),
		rego.Store(inmem.NewFromObject(data)),
		rego.SetRegoVersion(ast.RegoV1),
	}
	names := sortedKeys(p.Modules)
	for _, name := range names {
		opts = append(opts, rego.Module(name, p.Modules[name]))
	}
	q, err := rego.New(opts...).PrepareForEval(ctx)
	if err != nil {
		return none, fmt.Errorf("prepare policy: %w", err)
	}
	return q, nil
}

// Evaluate returns the object's findings under the profile, sorted by field, rule, container, message.
func (o *OPA) Evaluate(ctx context.Context, obj map[string]any) ([]report.Finding, error) {
	input, err := ast.InterfaceToValue(obj)
	if err != nil {
		return nil, fmt.Errorf("convert input: %w", err)
	}
	rs, err := o.query.Eval(ctx, rego.EvalParsedInput(input))
	if err != nil {
		return nil, fmt.Errorf("evaluate: %w", err)
	}
	var out []report.Finding
	for _, r := range rs {
		for _, e := range r.Expressions {
			items, ok := e.Value.([]any)
			if !ok {
				return nil, fmt.Errorf("evaluate: findings are %T, not a set", e.Value)
			}
			for _, it := range items {
				f, err := toFinding(it)
				if err != nil {
					return nil, err
				}
				out = append(out, f)
			}
		}
	}
	SortFindings(out)
	return out, nil
}

func toFinding(v any) (report.Finding, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return report.Finding{}, fmt.Errorf("evaluate: finding is %T, not an object", v)
	}
	str := func(k string) string { s, _ := m[k].(string); return s }
	f := report.Finding{Rule: str("rule"), Severity: str("severity"), Message: str("msg"), Field: str("field"), Container: str("container")}
	if f.Rule == "" || f.Message == "" || f.Field == "" {
		return f, fmt.Errorf("evaluate: malformed finding %v", m)
	}
	return f, nil
}

// SortFindings orders findings by field, rule, container and message.
func SortFindings(fs []report.Finding) {
	sort.Slice(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.Field != b.Field {
			return a.Field < b.Field
		}
		if a.Rule != b.Rule {
			return a.Rule < b.Rule
		}
		if a.Container != b.Container {
			return a.Container < b.Container
		}
		return a.Message < b.Message
	})
}
