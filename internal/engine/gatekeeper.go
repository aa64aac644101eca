package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	templatesv1 "github.com/open-policy-agent/frameworks/constraint/pkg/apis/templates/v1"
	constraintclient "github.com/open-policy-agent/frameworks/constraint/pkg/client"
	"github.com/open-policy-agent/frameworks/constraint/pkg/client/drivers/rego"
	"github.com/open-policy-agent/frameworks/constraint/pkg/client/reviews"
	"github.com/open-policy-agent/frameworks/constraint/pkg/core/templates"
	"github.com/open-policy-agent/frameworks/constraint/pkg/types"
	mutationtypes "github.com/open-policy-agent/gatekeeper/v3/pkg/mutation/types"
	"github.com/open-policy-agent/gatekeeper/v3/pkg/target"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/hpguard/hpguard/internal/report"
)

// GatekeeperEnforcementPoint is the enforcement point hpguard reviews as (gator's: constraints
// without scoped enforcement actions apply to it with their enforcementAction).
const GatekeeperEnforcementPoint = "gator.gatekeeper.sh"

// gatekeeperRuleAnnotation carries the hpguard rule id on generated templates and constraints.
const gatekeeperRuleAnnotation = "hpguard.dev/rule"

// Gatekeeper evaluates objects the way Gatekeeper does: the generated ConstraintTemplates and a
// profile's Constraints are loaded into a frameworks/constraint client with the Rego driver and
// Gatekeeper's Kubernetes validation target, which applies each Constraint's match block. Safe for
// concurrent use.
type Gatekeeper struct {
	client  *constraintclient.Client
	Profile string
	// Constraints are the loaded Constraints (parameters overridden), by rule id (with the combined
	// template, the Constraint that lists the rule).
	Constraints map[string]*unstructured.Unstructured
}

func init() {
	register(Kind{Name: "gatekeeper", Title: "Gatekeeper", Shipped: "the shipped templates",
		build: func(ctx context.Context, src Sources, profile string, params Params) (Evaluator, error) {
			return evaluator(NewGatekeeper(ctx, src.Gatekeeper, profile, params))
		}})
	register(Kind{Name: "gatekeeper-combined", Title: "Gatekeeper, combined template", Shipped: "the shipped combined template",
		build: func(ctx context.Context, src Sources, profile string, params Params) (Evaluator, error) {
			return evaluator(NewGatekeeperCombined(ctx, src.Gatekeeper, profile, params))
		}})
}

// combinedRulesParameter is the combined template's parameter listing the rules to evaluate
// (generator.CombinedRulesParameter).
const combinedRulesParameter = "rules"

// NewGatekeeperCombined loads the combined form of gatekeeper/ (combined/template and the
// profile's Constraints in combined/profiles/<profile>: one per severity, listing the rules of that
// severity with their parameters) into a frameworks client as NewGatekeeper does, and overrides
// the listed rules' parameters with params. Parameters are checked against the per-rule templates,
// as NewGatekeeper checks them, so that both forms accept and refuse the same.
func NewGatekeeperCombined(ctx context.Context, fsys fs.FS, profile string, params Params) (*Gatekeeper, error) {
	tmpls, err := readTemplates(fsys)
	if err != nil {
		return nil, err
	}
	for _, id := range sortedKeys(params) {
		t := tmpls[id]
		if t == nil {
			return nil, fmt.Errorf("%w: unknown rule %q (valid: %s)", ErrParams, id, strings.Join(sortedKeys(tmpls), ", "))
		}
		if err := checkParamNames(id, t.template, params[id]); err != nil {
			return nil, err
		}
	}
	dir := path.Join("combined", "profiles", profile)
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("unknown profile %q for the combined template: %w", profile, err)
	}
	b, err := fs.ReadFile(fsys, "combined/template/constrainttemplate.yaml")
	if err != nil {
		return nil, fmt.Errorf("gatekeeper: %w", err)
	}
	ct, err := ParseConstraintTemplate(b)
	if err != nil {
		return nil, fmt.Errorf("gatekeeper: combined/template/constrainttemplate.yaml: %w", err)
	}
	c, err := newGatekeeperClient()
	if err != nil {
		return nil, err
	}
	if _, err := c.AddTemplate(ctx, ct); err != nil {
		return nil, fmt.Errorf("gatekeeper: combined template: %w", err)
	}
	g := &Gatekeeper{client: c, Profile: profile, Constraints: map[string]*unstructured.Unstructured{}}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || name == "kustomization.yaml" || !strings.HasSuffix(name, ".yaml") {
			continue
		}
		u, err := readObject(fsys, path.Join(dir, name))
		if err != nil {
			return nil, err
		}
		rules, _, err := unstructured.NestedMap(u.Object, "spec", "parameters", combinedRulesParameter)
		if err != nil || len(rules) == 0 {
			return nil, fmt.Errorf("gatekeeper: %s/%s lists no rules (spec.parameters.%s)", dir, name, combinedRulesParameter)
		}
		overridden := false
		for id, ps := range rules {
			if g.Constraints[id] != nil {
				return nil, fmt.Errorf("gatekeeper: %s/%s: rule %s is listed twice in the profile", dir, name, id)
			}
			g.Constraints[id] = u
			over := params[id]
			if len(over) == 0 {
				continue
			}
			m, _ := ps.(map[string]any)
			if m == nil {
				m = map[string]any{}
			}
			for k, v := range over {
				m[k] = toJSONValue(v)
			}
			rules[id] = m
			overridden = true
		}
		if err := unstructured.SetNestedMap(u.Object, rules, "spec", "parameters", combinedRulesParameter); err != nil {
			return nil, fmt.Errorf("gatekeeper: %s/%s: %w", dir, name, err)
		}
		if _, err := c.AddConstraint(ctx, u); err != nil {
			if overridden {
				return nil, fmt.Errorf("%w: %v", ErrParams, err)
			}
			return nil, fmt.Errorf("gatekeeper: constraint %s/%s: %w", dir, name, err)
		}
	}
	if len(g.Constraints) == 0 {
		return nil, fmt.Errorf("gatekeeper: profile %q has no combined constraints", profile)
	}
	if err := validateOffProfileParams(ctx, g, tmpls, params); err != nil {
		return nil, err
	}
	return g, nil
}

// validateOffProfileParams validates the parameters of rules outside the profile (without a
// Constraint in g) against their templates, as those of the profile's rules are by their Constraints.
func validateOffProfileParams(ctx context.Context, g *Gatekeeper, tmpls map[string]*loadedTemplate, params Params) error {
	for _, id := range sortedKeys(params) {
		if g.Constraints[id] != nil || len(params[id]) == 0 {
			continue
		}
		if err := validateOffProfile(ctx, tmpls[id], params[id]); err != nil {
			return err
		}
	}
	return nil
}

// newGatekeeperClient is a frameworks client with the Rego driver and Gatekeeper's Kubernetes
// validation target, reviewing as GatekeeperEnforcementPoint.
func newGatekeeperClient() (*constraintclient.Client, error) {
	drv, err := rego.New()
	if err != nil {
		return nil, fmt.Errorf("gatekeeper: rego driver: %w", err)
	}
	c, err := constraintclient.NewClient(
		constraintclient.Targets(&target.K8sValidationTarget{}),
		constraintclient.Driver(drv),
		constraintclient.EnforcementPoints(GatekeeperEnforcementPoint),
	)
	if err != nil {
		return nil, fmt.Errorf("gatekeeper: client: %w", err)
	}
	return c, nil
}

// NewGatekeeper loads templates/<rule>/constrainttemplate.yaml and profiles/<profile>/*.yaml from
// fsys (the generated gatekeeper/ directory, e.g. gatekeeper.FS()) and overrides the Constraints'
// parameters with params, per parameter, as the OPA engine does. A parameter for a rule that is not
// in the profile is checked against the rule's template and otherwise ignored.
func NewGatekeeper(ctx context.Context, fsys fs.FS, profile string, params Params) (*Gatekeeper, error) {
	tmpls, err := readTemplates(fsys)
	if err != nil {
		return nil, err
	}
	entries, err := fs.ReadDir(fsys, path.Join("profiles", profile))
	if err != nil {
		var names []string
		if dirs, derr := fs.ReadDir(fsys, "profiles"); derr == nil {
			for _, d := range dirs {
				names = append(names, d.Name())
			}
		}
		return nil, fmt.Errorf("unknown profile %q (valid: %s)", profile, strings.Join(names, ", "))
	}
	c, err := newGatekeeperClient()
	if err != nil {
		return nil, err
	}
	g := &Gatekeeper{client: c, Profile: profile, Constraints: map[string]*unstructured.Unstructured{}}
	for _, id := range sortedKeys(params) {
		t := tmpls[id]
		if t == nil {
			return nil, fmt.Errorf("%w: unknown rule %q (valid: %s)", ErrParams, id, strings.Join(sortedKeys(tmpls), ", "))
		}
		if err := checkParamNames(id, t.template, params[id]); err != nil {
			return nil, err
		}
	}
	added := map[string]bool{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || name == "kustomization.yaml" || !strings.HasSuffix(name, ".yaml") {
			continue
		}
		u, err := readObject(fsys, path.Join("profiles", profile, name))
		if err != nil {
			return nil, err
		}
		id := u.GetAnnotations()[gatekeeperRuleAnnotation]
		t := tmpls[id]
		if t == nil || t.template.Spec.CRD.Spec.Names.Kind != u.GetKind() {
			return nil, fmt.Errorf("gatekeeper: %s: no template of kind %s for rule %q", name, u.GetKind(), id)
		}
		if !added[id] {
			if _, err := c.AddTemplate(ctx, t.template); err != nil {
				return nil, fmt.Errorf("gatekeeper: template %s: %w", t.file, err)
			}
			added[id] = true
		}
		if over := params[id]; len(over) > 0 {
			ps, _, err := unstructured.NestedMap(u.Object, "spec", "parameters")
			if err != nil {
				return nil, fmt.Errorf("gatekeeper: %s: %w", name, err)
			}
			if ps == nil {
				ps = map[string]any{}
			}
			for k, v := range over {
				ps[k] = toJSONValue(v)
			}
			if err := unstructured.SetNestedMap(u.Object, ps, "spec", "parameters"); err != nil {
				return nil, fmt.Errorf("gatekeeper: %s: %w", name, err)
			}
		}
		if _, err := c.AddConstraint(ctx, u); err != nil {
			if len(params[id]) > 0 {
				return nil, fmt.Errorf("%w: %s: %v", ErrParams, id, err)
			}
			return nil, fmt.Errorf("gatekeeper: constraint %s: %w", name, err)
		}
		g.Constraints[id] = u
	}
	if len(g.Constraints) == 0 {
		return nil, fmt.Errorf("gatekeeper: profile %q has no constraints", profile)
	}
	if err := validateOffProfileParams(ctx, g, tmpls, params); err != nil {
		return nil, err
	}
	return g, nil
}

type loadedTemplate struct {
	file     string
	template *templates.ConstraintTemplate
}

// readTemplates reads every templates/*/constrainttemplate.yaml, keyed by rule id.
func readTemplates(fsys fs.FS) (map[string]*loadedTemplate, error) {
	files, err := fs.Glob(fsys, "templates/*/constrainttemplate.yaml")
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, errors.New("gatekeeper: no templates/*/constrainttemplate.yaml found; generate them with `hpguard generate`")
	}
	out := map[string]*loadedTemplate{}
	for _, f := range files {
		b, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		t, err := ParseConstraintTemplate(b)
		if err != nil {
			return nil, fmt.Errorf("gatekeeper: %s: %w", f, err)
		}
		id := t.GetAnnotations()[gatekeeperRuleAnnotation]
		if id == "" {
			return nil, fmt.Errorf("gatekeeper: %s: no %s annotation", f, gatekeeperRuleAnnotation)
		}
		out[id] = &loadedTemplate{file: f, template: t}
	}
	return out, nil
}

// ParseConstraintTemplate decodes a templates.gatekeeper.sh/v1 ConstraintTemplate (YAML or JSON),
// rejecting unknown fields, and converts it to the versionless form the client takes (defaults
// applied, as the API server and gator do).
func ParseConstraintTemplate(b []byte) (*templates.ConstraintTemplate, error) {
	var v1 templatesv1.ConstraintTemplate
	if err := yaml.UnmarshalStrict(b, &v1); err != nil {
		return nil, err
	}
	if v1.APIVersion != templatesv1.SchemeGroupVersion.String() || v1.Kind != "ConstraintTemplate" {
		return nil, fmt.Errorf("not a %s ConstraintTemplate: %s %s", templatesv1.SchemeGroupVersion, v1.APIVersion, v1.Kind)
	}
	return v1.ToVersionless()
}

func readObject(fsys fs.FS, name string) (*unstructured.Unstructured, error) {
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("gatekeeper: %s: %w", name, err)
	}
	return &unstructured.Unstructured{Object: m}, nil
}

// checkParamNames rejects parameters the rule's template does not declare.
func checkParamNames(id string, t *templates.ConstraintTemplate, ps map[string]any) error {
	var names []string
	props := map[string]bool{}
	if v := t.Spec.CRD.Spec.Validation; v != nil && v.OpenAPIV3Schema != nil {
		for n := range v.OpenAPIV3Schema.Properties {
			props[n] = true
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var errs []string
	for _, n := range sortedKeys(ps) {
		if !props[n] {
			valid := "it has none"
			if len(names) > 0 {
				valid = "valid: " + strings.Join(names, ", ")
			}
			errs = append(errs, fmt.Sprintf("rule %s has no parameter %q (%s)", id, n, valid))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %s", ErrParams, strings.Join(errs, "; "))
	}
	return nil
}

// validateOffProfile validates parameters of a rule that is not in the profile against its
// template's schema, with a throwaway client.
func validateOffProfile(ctx context.Context, t *loadedTemplate, ps map[string]any) error {
	drv, err := rego.New()
	if err != nil {
		return err
	}
	c, err := constraintclient.NewClient(constraintclient.Targets(&target.K8sValidationTarget{}), constraintclient.Driver(drv), constraintclient.EnforcementPoints(GatekeeperEnforcementPoint))
	if err != nil {
		return err
	}
	if _, err := c.AddTemplate(ctx, t.template); err != nil {
		return err
	}
	params := map[string]any{}
	for k, v := range ps {
		params[k] = toJSONValue(v)
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "constraints.gatekeeper.sh/v1beta1",
		"kind":       t.template.Spec.CRD.Spec.Names.Kind,
		"metadata":   map[string]any{"name": "params"},
		"spec":       map[string]any{"parameters": params},
	}}
	if err := c.ValidateConstraint(u); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrParams, t.template.GetAnnotations()[gatekeeperRuleAnnotation], err)
	}
	return nil
}

// toJSONValue normalises a parameter value to the JSON types unstructured objects hold.
func toJSONValue(v any) any {
	b, err := yaml.Marshal(v)
	if err != nil {
		return v
	}
	var out any
	if err := yaml.Unmarshal(b, &out); err != nil {
		return v
	}
	return out
}

// Evaluate reviews obj as Gatekeeper's audit and gator do (an object submitted as is) and returns
// the violations of the profile's Constraints as findings, sorted.
func (g *Gatekeeper) Evaluate(ctx context.Context, obj map[string]any) ([]report.Finding, error) {
	u := unstructured.Unstructured{Object: obj}
	return g.review(ctx, target.AugmentedUnstructured{Object: u, Source: mutationtypes.SourceTypeOriginal})
}

func (g *Gatekeeper) review(ctx context.Context, review any) (out []report.Finding, err error) {
	defer func() {
		// unstructured deep copies panic on values that are not JSON types (an int, a struct).
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("gatekeeper review: %v", r)
		}
	}()
	resp, err := g.client.Review(ctx, review, reviews.EnforcementPoint(GatekeeperEnforcementPoint))
	if err != nil {
		return nil, fmt.Errorf("gatekeeper review: %w", err)
	}
	for _, r := range resp.Results() {
		f, err := resultFinding(r)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	SortFindings(out)
	return out, nil
}

// resultFinding converts a violation: rule, field and container from its details, severity from
// the Constraint's enforcement action.
func resultFinding(r *types.Result) (report.Finding, error) {
	details, _ := r.Metadata["details"].(map[string]any)
	str := func(k string) string { s, _ := details[k].(string); return s }
	f := report.Finding{Rule: str("rule"), Message: r.Msg, Field: str("field"), Container: str("container")}
	switch r.EnforcementAction {
	case "deny", "warn":
		f.Severity = r.EnforcementAction
	case "dryrun":
		f.Severity = "warn"
	default:
		f.Severity = r.EnforcementAction
	}
	if f.Rule == "" || f.Field == "" {
		name := ""
		if r.Constraint != nil {
			name = r.Constraint.GetKind() + "/" + r.Constraint.GetName()
		}
		return f, fmt.Errorf("gatekeeper review: malformed violation of %s: %q %v", name, r.Msg, r.Metadata)
	}
	return f, nil
}
