package engine

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	goruntime "runtime"
	"strings"
	"sync"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	plugincel "k8s.io/apiserver/pkg/admission/plugin/cel"
	"k8s.io/apiserver/pkg/admission/plugin/policy/validating"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/authorization/authorizerfactory"
	"k8s.io/apiserver/pkg/cel/environment"

	"github.com/hpguard/hpguard/internal/report"
	"github.com/hpguard/hpguard/internal/workload"
)

// CELPolicy is one rule's ValidatingAdmissionPolicy as the CEL engine evaluates it.
type CELPolicy struct {
	// Rule is the hpguard rule id.
	Rule string
	// Severity is the rule's severity in the profile ("deny" or "warn").
	Severity string
	// Policy is the rule's v1 ValidatingAdmissionPolicy.
	Policy *admissionregistrationv1.ValidatingAdmissionPolicy
	// Params is the spec of the rule's parameters object (nil: the policy's defaults).
	Params map[string]any
	// FindingsExpression evaluates, with the policy's variables, to the findings as a list of
	// groups of [field, container, message] (generator.CELRule.FindingsExpression).
	FindingsExpression string
}

// CELDecision is the outcome of one policy for one object.
type CELDecision struct {
	Rule string
	// Denied is true when the validation failed; Message is the API server's message for it.
	Denied  bool
	Message string
	// Findings are the rule's findings from FindingsExpression.
	Findings []report.Finding
	// Cost is the runtime CEL cost of the validation and message (as the API server counts it).
	Cost int64
}

type celCompiled struct {
	CELPolicy
	validator validating.Validator
	findings  plugincel.ConditionEvaluator
	params    runtime.Object
}

// CEL evaluates objects with the Kubernetes ValidatingAdmissionPolicy machinery of k8s.io/apiserver:
// the policies are compiled as the API server compiles them (same CEL environment, libraries and
// cost limits) and validated with its validator. Safe for concurrent use.
type CEL struct {
	Profile  string
	policies []*celCompiled
}

var (
	celEnvOnce sync.Once
	celEnv     *environment.EnvSet
)

// NewCEL compiles the policies of a profile, on as many goroutines as there are processors.
func NewCEL(profile string, policies []CELPolicy) (*CEL, error) {
	c := &CEL{Profile: profile, policies: make([]*celCompiled, len(policies))}
	errs := make([]error, len(policies))
	var wg sync.WaitGroup
	sem := make(chan struct{}, goruntime.GOMAXPROCS(0))
	for i, p := range policies {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			cp, err := compileCELPolicy(p)
			if err != nil {
				errs[i] = fmt.Errorf("rule %s: %w", p.Rule, err)
				return
			}
			c.policies[i] = cp
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

// celVariableCache holds compiled variables by everything their compilation depends on: the
// expression, the variables declared before it (names and expressions, in order), the optional
// declarations and the environment mode. The policies of a profile begin with the same variables
// (the pod spec, its metadata, the containers: most of the compile time), which compile to the same
// result in every policy; compiled once, they are shared. Programs are safe for concurrent use.
var celVariableCache sync.Map // string -> *celCachedVariable

type celCachedVariable struct {
	once   sync.Once
	result plugincel.CompilationResult
}

// chainedVariable is a policy variable with the key of the variables declared before it.
type chainedVariable struct {
	validating.Variable
	key string
}

// cachingCompiler compiles chainedVariables through celVariableCache and everything else directly.
type cachingCompiler struct{ plugincel.Compiler }

func (c cachingCompiler) CompileCELExpression(acc plugincel.ExpressionAccessor, options plugincel.OptionalVariableDeclarations, mode environment.Type) plugincel.CompilationResult {
	v, ok := acc.(*chainedVariable)
	if !ok {
		return c.Compiler.CompileCELExpression(acc, options, mode)
	}
	key := fmt.Sprintf("%s\x00%t%t%t\x00%v", v.key, options.HasParams, options.HasAuthorizer, options.HasPatchTypes, mode)
	e, _ := celVariableCache.LoadOrStore(key, &celCachedVariable{})
	cached := e.(*celCachedVariable)
	cached.once.Do(func() { cached.result = c.Compiler.CompileCELExpression(&v.Variable, options, mode) })
	return cached.result
}

// compileCELPolicy mirrors compilePolicy of k8s.io/apiserver's validating admission policy plugin
// (which is unexported), adding the findings expression.
func compileCELPolicy(p CELPolicy) (*celCompiled, error) {
	spec := p.Policy.Spec
	hasParam := spec.ParamKind != nil
	optionalVars := plugincel.OptionalVariableDeclarations{HasParams: hasParam, HasAuthorizer: true}
	expressionOptionalVars := plugincel.OptionalVariableDeclarations{HasParams: hasParam, HasAuthorizer: false}
	celEnvOnce.Do(func() { celEnv = environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion()) })
	compiler, err := plugincel.NewCompositedCompiler(celEnv)
	if err != nil {
		return nil, err
	}
	compiler.Compiler = cachingCompiler{compiler.Compiler}
	// The key of a variable is a running hash of every name and expression up to and including it
	// (not the text itself: the policies' variables add up to tens of kilobytes).
	var chain [sha256.Size]byte
	for _, v := range spec.Variables {
		chain = sha256.Sum256([]byte(string(chain[:]) + v.Name + "\x00" + v.Expression))
		res := compiler.CompileAndStoreVariable(&chainedVariable{validating.Variable{Name: v.Name, Expression: v.Expression}, string(chain[:])}, optionalVars, environment.StoredExpressions)
		if res.Error != nil {
			return nil, fmt.Errorf("variable %s: %w", v.Name, res.Error)
		}
	}
	validations := make([]plugincel.ExpressionAccessor, len(spec.Validations))
	messages := make([]plugincel.ExpressionAccessor, len(spec.Validations))
	for i, v := range spec.Validations {
		validations[i] = &validating.ValidationCondition{Expression: v.Expression, Message: v.Message, Reason: v.Reason}
		if v.MessageExpression != "" {
			messages[i] = &validating.MessageExpressionCondition{MessageExpression: v.MessageExpression}
		}
	}
	validator := validating.NewValidator(
		compiler.CompileCondition(validations, optionalVars, environment.StoredExpressions),
		nil,
		compiler.CompileCondition(nil, optionalVars, environment.StoredExpressions),
		compiler.CompileCondition(messages, expressionOptionalVars, environment.StoredExpressions),
		spec.FailurePolicy, nil)
	if err := validator.CompileError(); err != nil {
		return nil, err
	}
	cp := &celCompiled{CELPolicy: p, validator: validator}
	if p.FindingsExpression != "" {
		cp.findings = compiler.CompileCondition([]plugincel.ExpressionAccessor{&validating.MessageExpressionCondition{MessageExpression: p.FindingsExpression}}, optionalVars, environment.StoredExpressions)
	}
	cp.params = p.paramsObject()
	return cp, nil
}

// paramsObject is the params object the policy's binding refers to (nil when it has no paramKind).
func (p CELPolicy) paramsObject() runtime.Object {
	pk := p.Policy.Spec.ParamKind
	if pk == nil {
		return nil
	}
	params := p.Params
	if params == nil {
		params = map[string]any{}
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": pk.APIVersion, "kind": pk.Kind,
		"metadata": map[string]any{"name": p.Policy.Name}, "spec": runtime.DeepCopyJSONValue(params),
	}}
}

// celResource is the resource of a workload kind, as the API server would report it.
func celResource(kind string) (schema.GroupVersionResource, bool) {
	k, ok := workload.Lookup(kind)
	if !ok {
		return schema.GroupVersionResource{}, false
	}
	return schema.GroupVersionResource{Group: k.Group(), Version: k.Version, Resource: k.Resource}, true
}

// Review evaluates every policy on obj as a CREATE request (an UPDATE of the
// pods/ephemeralcontainers subresource when ephemeral is set) and returns one decision per policy
// (none for an object of a kind the policies do not match).
func (c *CEL) Review(ctx context.Context, obj map[string]any, ephemeral bool) ([]CELDecision, error) {
	u := &unstructured.Unstructured{Object: normalizeJSON(obj).(map[string]any)}
	gvr, ok := celResource(u.GetKind())
	if !ok {
		return nil, nil // the policies match only the workload kinds
	}
	gvk := u.GroupVersionKind()
	op, sub := admission.Create, ""
	var old runtime.Object
	if ephemeral {
		op, sub, old = admission.Update, "ephemeralcontainers", u.DeepCopy()
	}
	attrs := admission.NewAttributesRecord(u, old, gvk, u.GetNamespace(), u.GetName(), gvr, sub, op, nil, false, nil)
	versioned := &admission.VersionedAttributes{Attributes: attrs, VersionedObject: u, VersionedOldObject: old, VersionedKind: gvk}
	authz := authorizer.Authorizer(authorizerfactory.NewAlwaysAllowAuthorizer())
	var out []CELDecision
	for _, p := range c.policies {
		res := p.validator.Validate(ctx, gvr, versioned, p.params, nil, celconfig.RuntimeCELCostBudget, authz)
		d := CELDecision{Rule: p.Rule}
		for _, dec := range res.Decisions {
			switch dec.Action {
			case validating.ActionDeny:
				if dec.Evaluation == validating.EvalError {
					return nil, fmt.Errorf("cel: rule %s: %s", p.Rule, dec.Message)
				}
				d.Denied, d.Message = true, dec.Message
			case validating.ActionAdmit:
			}
		}
		if p.findings != nil {
			fs, cost, err := p.evalFindings(ctx, versioned, authz)
			if err != nil {
				return nil, fmt.Errorf("cel: rule %s: %w", p.Rule, err)
			}
			d.Findings, d.Cost = fs, cost
		}
		out = append(out, d)
	}
	return out, nil
}

func (p *celCompiled) evalFindings(ctx context.Context, versioned *admission.VersionedAttributes, authz authorizer.Authorizer) ([]report.Finding, int64, error) {
	req := &admissionv1.AdmissionRequest{Namespace: versioned.GetNamespace(), Name: versioned.GetName(), SubResource: versioned.GetSubresource(), Operation: admissionv1.Operation(versioned.GetOperation())}
	results, remaining, err := p.findings.ForInput(ctx, versioned, req, plugincel.OptionalVariableBindings{VersionedParams: p.params, Authorizer: authz}, nil, celconfig.RuntimeCELCostBudget)
	if err != nil {
		return nil, 0, err
	}
	if len(results) != 1 || results[0].Error != nil {
		if len(results) == 1 {
			return nil, 0, results[0].Error
		}
		return nil, 0, errors.New("no findings result")
	}
	str, ok := results[0].EvalResult.Value().(string)
	if !ok {
		return nil, 0, fmt.Errorf("findings: not a string: %v", results[0].EvalResult)
	}
	var fs []report.Finding
	for _, rec := range strings.Split(str, "\x1e") {
		if rec == "" {
			continue
		}
		t := strings.Split(rec, "\x1f")
		if len(t) != 3 {
			return nil, 0, fmt.Errorf("findings: malformed finding %q", rec)
		}
		fs = append(fs, report.Finding{Rule: p.Rule, Severity: p.Severity, Field: t[0], Container: t[1], Message: t[2]})
	}
	return fs, celconfig.RuntimeCELCostBudget - remaining, nil
}

// Evaluate returns the findings of every policy that denies obj (CREATE); it implements Evaluator.
func (c *CEL) Evaluate(ctx context.Context, obj map[string]any) ([]report.Finding, error) {
	ds, err := c.Review(ctx, obj, false)
	if err != nil {
		return nil, err
	}
	var out []report.Finding
	for _, d := range ds {
		if d.Denied {
			if len(d.Findings) == 0 {
				out = append(out, report.Finding{Rule: d.Rule, Message: d.Message})
			}
			out = append(out, d.Findings...)
		}
	}
	SortFindings(out)
	return out, nil
}

// normalizeJSON copies a decoded JSON value with numbers as the API server decodes them: integers as
// int64, other numbers as float64 (json.Number and Go integer types are converted).
func normalizeJSON(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalizeJSON(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalizeJSON(e)
		}
		return out
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case int:
		return int64(x)
	case int32:
		return int64(x)
	case float32:
		return float64(x)
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x)
		}
		return x
	}
	return v
}
