package engine_test

import (
	"context"
	"fmt"

	"github.com/hpguard/hpguard/internal/engine"
	"github.com/hpguard/hpguard/policies"
)

// Evaluate a pod with the embedded policies under the default profile.
func ExampleOPA_Evaluate() {
	ctx := context.Background()
	policy, err := engine.LoadPolicy(policies.Rego())
	if err != nil {
		panic(err)
	}
	ev, err := engine.NewOPA(ctx, policy, "hostprocess", nil)
	if err != nil {
		panic(err)
	}
	pod := map[string]any{
		"apiVersion": "v1",
		"kind":       "Pod",
		"metadata":   map[string]any{"name": "agent"},
		"spec": map[string]any{
			"securityContext": map[string]any{"windowsOptions": map[string]any{
				"hostProcess":   true,
				"runAsUserName": `NT AUTHORITY\LocalService`,
			}},
			"nodeSelector": map[string]any{"kubernetes.io/os": "windows"},
			"containers": []any{map[string]any{
				"name":      "agent",
				"image":     "registry.example.com/agent:1.0",
				"resources": map[string]any{"limits": map[string]any{"cpu": "100m", "memory": "64Mi"}},
			}},
		},
	}
	findings, err := ev.Evaluate(ctx, pod)
	if err != nil {
		panic(err)
	}
	for _, f := range findings {
		fmt.Println(f.Severity, f.Rule, f.Field)
	}
	// Output:
	// deny host-network-required spec.hostNetwork
}

func ExampleParams_Validate() {
	policy, err := engine.LoadPolicy(policies.Rego())
	if err != nil {
		panic(err)
	}
	err = engine.Params{"run-as-user-name-allowed": {"allowedLocalGroups": "hpc"}}.Validate(policy.Ruleset)
	fmt.Println(err)
	// Output:
	// invalid parameters: run-as-user-name-allowed.allowedLocalGroups: value "hpc" does not match its schema: at /: got string, want array
}
