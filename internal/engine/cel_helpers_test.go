package engine

// CEL helpers only the tests use: other parameters for a compiled engine, and the cost estimate and
// compatibility-version compilation of a policy's expressions.

import (
	"fmt"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/checker"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/util/version"
	"k8s.io/apiserver/pkg/cel/environment"
	"k8s.io/apiserver/pkg/cel/library"
)

// WithParams returns a CEL engine sharing the compiled policies of c, with other parameters for the
// rules in params (by rule id; the spec of each rule's parameters object).
func (c *CEL) WithParams(params map[string]map[string]any) *CEL {
	out := &CEL{Profile: c.Profile}
	for _, p := range c.policies {
		if ps, ok := params[p.Rule]; ok {
			cp := *p
			cp.Params = ps
			cp.params = cp.paramsObject()
			p = &cp
		}
		out.policies = append(out.policies, p)
	}
	return out
}

// CELExpressionCost is the estimated cost of one expression of a policy.
type CELExpressionCost struct {
	// Name is "variables.<name>", "validations[i].expression" or "validations[i].messageExpression".
	Name string
	// Min and Max are the cost estimator's bounds.
	Min, Max uint64
}

// CELEstimatedCost compiles every expression of a policy in the Kubernetes CEL environment (object,
// oldObject, request, params and variables as dynamic values, as for a policy without a schema) and
// returns the cost estimator's bounds, with sizes bounded by sizeEstimator (nil: unbounded).
func CELEstimatedCost(p *admissionregistrationv1.ValidatingAdmissionPolicy, sizeEstimator checker.CostEstimator) ([]CELExpressionCost, error) {
	celEnvOnce.Do(func() { celEnv = environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion()) })
	base, err := celEnv.Env(environment.StoredExpressions)
	if err != nil {
		return nil, err
	}
	env, err := base.Extend(
		cel.Variable("object", cel.DynType), cel.Variable("oldObject", cel.DynType),
		cel.Variable("request", cel.DynType), cel.Variable("params", cel.DynType),
		cel.Variable("namespaceObject", cel.DynType),
		cel.Variable("variables", cel.MapType(cel.StringType, cel.DynType)))
	if err != nil {
		return nil, err
	}
	var out []CELExpressionCost
	estimate := func(name, expr string) error {
		ast, iss := env.Compile(expr)
		if iss.Err() != nil {
			return fmt.Errorf("%s: %w", name, iss.Err())
		}
		est, err := env.EstimateCost(ast, &library.CostEstimator{SizeEstimator: sizeEstimator})
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		out = append(out, CELExpressionCost{Name: name, Min: est.Min, Max: est.Max})
		return nil
	}
	for _, v := range p.Spec.Variables {
		if err := estimate("variables."+v.Name, v.Expression); err != nil {
			return nil, err
		}
	}
	for i, v := range p.Spec.Validations {
		if err := estimate(fmt.Sprintf("validations[%d].expression", i), v.Expression); err != nil {
			return nil, err
		}
		if v.MessageExpression != "" {
			if err := estimate(fmt.Sprintf("validations[%d].messageExpression", i), v.MessageExpression); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// CELCompileNew compiles every expression of a policy as an API server whose CEL compatibility
// version is compat compiles the expressions of a new or changed policy (environment.NewExpressions:
// only the libraries of that version), with object, request, params and the variables as dynamic
// values. It returns the first compilation error.
func CELCompileNew(p *admissionregistrationv1.ValidatingAdmissionPolicy, compat *version.Version) error {
	base, err := environment.MustBaseEnvSet(compat).Env(environment.NewExpressions)
	if err != nil {
		return err
	}
	env, err := base.Extend(
		cel.Variable("object", cel.DynType), cel.Variable("oldObject", cel.DynType),
		cel.Variable("request", cel.DynType), cel.Variable("params", cel.DynType),
		cel.Variable("namespaceObject", cel.DynType),
		cel.Variable("variables", cel.MapType(cel.StringType, cel.DynType)))
	if err != nil {
		return err
	}
	check := func(name, expr string) error {
		if _, iss := env.Compile(expr); iss.Err() != nil {
			return fmt.Errorf("%s: %w", name, iss.Err())
		}
		return nil
	}
	for _, v := range p.Spec.Variables {
		if err := check("variables."+v.Name, v.Expression); err != nil {
			return err
		}
	}
	for i, v := range p.Spec.Validations {
		if err := check(fmt.Sprintf("validations[%d].expression", i), v.Expression); err != nil {
			return err
		}
		if err := check(fmt.Sprintf("validations[%d].messageExpression", i), v.MessageExpression); err != nil {
			return err
		}
	}
	return nil
}
