package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/google/cel-go/cel"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/hpguard/hpguard/internal/ruleset"
)

func init() {
	register(Kind{Name: "kyverno", Title: "Kyverno", Shipped: "the shipped Kyverno ValidatingPolicies",
		build: func(_ context.Context, src Sources, profile string, params Params) (Evaluator, error) {
			return evaluator(LoadKyverno(src.Kyverno, profile, params))
		}})
}

// KyvernoParamsVariable is the variable of a generated Kyverno policy that holds the rule's
// parameters (generator.KyvernoParamsVariable).
const KyvernoParamsVariable = "hpParams"

// kyvernoPolicy is the part of a Kyverno ValidatingPolicy (policies.kyverno.io/v1) the engine reads;
// the rest of its spec (autogen, webhook and evaluation settings) does not change a verdict.
type kyvernoPolicy struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       struct {
		ValidationActions []admissionregistrationv1.ValidationAction `json:"validationActions"`
		FailurePolicy     *admissionregistrationv1.FailurePolicyType `json:"failurePolicy"`
		MatchConstraints  *admissionregistrationv1.MatchResources    `json:"matchConstraints"`
		MatchConditions   []admissionregistrationv1.MatchCondition   `json:"matchConditions"`
		Variables         []admissionregistrationv1.Variable         `json:"variables"`
		Validations       []admissionregistrationv1.Validation       `json:"validations"`
		Autogen           map[string]any                             `json:"autogen"`
	} `json:"spec"`
}

// LoadKyverno compiles a profile's Kyverno ValidatingPolicies from the generated kyverno/ directory
// (profiles/<profile>/<rule>.yaml) with the CEL engine: a ValidatingPolicy carries the variables,
// validations and match constraints of the rule's ValidatingAdmissionPolicy, with its parameters in
// the variable hpParams instead of a params object. params override that variable's values per
// parameter, as for the other engines.
func LoadKyverno(fsys fs.FS, profile string, params Params) (*CEL, error) {
	if fsys == nil {
		return nil, fmt.Errorf("kyverno: no Kyverno policies")
	}
	dir := path.Join("profiles", profile)
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("kyverno: unknown profile %q: %w", profile, err)
	}
	var policies []CELPolicy
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".yaml") || e.Name() == "kustomization.yaml" {
			continue
		}
		name := path.Join(dir, e.Name())
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("kyverno: %w", err)
		}
		var kp kyvernoPolicy
		if err := yaml.UnmarshalStrict(stripComments(data), &kp); err != nil {
			return nil, fmt.Errorf("kyverno: %s: %w", name, err)
		}
		if kp.APIVersion != "policies.kyverno.io/v1" || kp.Kind != "ValidatingPolicy" {
			return nil, fmt.Errorf("kyverno: %s: %s %s, not a policies.kyverno.io/v1 ValidatingPolicy", name, kp.APIVersion, kp.Kind)
		}
		rule := kp.Metadata.Annotations["hpguard.dev/rule"]
		if rule == "" {
			return nil, fmt.Errorf("kyverno: %s: no hpguard.dev/rule annotation", name)
		}
		severity := "warn"
		if slices.Contains(kp.Spec.ValidationActions, admissionregistrationv1.Deny) {
			severity = "deny"
		}
		vars := slices.Clone(kp.Spec.Variables)
		if over := params[rule]; len(over) > 0 {
			i := slices.IndexFunc(vars, func(v admissionregistrationv1.Variable) bool { return v.Name == KyvernoParamsVariable })
			if i < 0 {
				return nil, fmt.Errorf("kyverno: %s: parameters given for %s, whose policy has no %s variable", name, rule, KyvernoParamsVariable)
			}
			expr, err := kyvernoParamsOverride(vars[i].Expression, over)
			if err != nil {
				return nil, fmt.Errorf("kyverno: %s: %w", name, err)
			}
			vars[i].Expression = expr
		}
		vap := &admissionregistrationv1.ValidatingAdmissionPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: kp.Metadata.Name},
			Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
				FailurePolicy:    kp.Spec.FailurePolicy,
				MatchConstraints: kp.Spec.MatchConstraints,
				MatchConditions:  kp.Spec.MatchConditions,
				Variables:        vars,
				Validations:      kp.Spec.Validations,
			},
		}
		policies = append(policies, CELPolicy{Rule: rule, Severity: severity, Policy: vap, FindingsExpression: ruleset.CELFindingsExpression})
	}
	if len(policies) == 0 {
		return nil, fmt.Errorf("kyverno: profile %q has no policies", profile)
	}
	sort.Slice(policies, func(i, j int) bool { return policies[i].Rule < policies[j].Rule })
	return NewCEL(profile, policies)
}

// kyvernoParamsOverride is the hpParams expression with the parameters in over replacing the
// policy's values of the same names (the others keep the policy's value): the policy's expression
// is evaluated (it may refer to nothing but literals), merged with over, and written as a literal.
func kyvernoParamsOverride(expr string, over map[string]any) (string, error) {
	env, err := cel.NewEnv()
	if err != nil {
		return "", err
	}
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		return "", fmt.Errorf("%s: %w", KyvernoParamsVariable, iss.Err())
	}
	prg, err := env.Program(ast)
	if err != nil {
		return "", fmt.Errorf("%s: %w", KyvernoParamsVariable, err)
	}
	val, _, err := prg.Eval(cel.NoVars())
	if err != nil {
		return "", fmt.Errorf("%s: %w", KyvernoParamsVariable, err)
	}
	native, err := val.ConvertToNative(reflect.TypeOf(&structpb.Value{}))
	if err != nil {
		return "", fmt.Errorf("%s is not a map of JSON values: %w", KyvernoParamsVariable, err)
	}
	b, err := protojson.Marshal(native.(*structpb.Value))
	if err != nil {
		return "", err
	}
	values := map[string]any{}
	if err := json.Unmarshal(b, &values); err != nil {
		return "", fmt.Errorf("%s is not a map: %w", KyvernoParamsVariable, err)
	}
	for k, v := range over {
		values[k] = v
	}
	// JSON is a CEL literal of the same value: strings, numbers, booleans, null, lists and maps
	// (non-ASCII characters written as themselves, not as \u escapes of UTF-16).
	var buf strings.Builder
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(values); err != nil {
		return "", err
	}
	return "dyn(" + strings.TrimSpace(buf.String()) + ")", nil
}
