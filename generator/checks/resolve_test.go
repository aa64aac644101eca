package checks_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/hpguard/hpguard/generator/checks"
	_ "github.com/hpguard/hpguard/generator/checks/all"
	"github.com/hpguard/hpguard/generator/spec"
)

// rule decodes a rule's check from YAML, as spec.Load does.
func rule(t *testing.T, check string) *spec.Rule {
	t.Helper()
	r := &spec.Rule{ID: "r", File: "rules/r.yaml", Line: 1, Scope: spec.ScopeHostProcessPods,
		Parameters: []spec.Parameter{{Name: "allowLocalSystem", Schema: map[string]any{"type": "boolean"}}}}
	var doc struct {
		Check spec.Check `yaml:"check"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(check), &doc))
	r.Check = doc.Check
	r.Check.Line = 10
	return r
}

func TestResolveRefusesWithFileAndLine(t *testing.T) {
	for _, tc := range []struct {
		name, check, want string
	}{
		{"unknown kind", "check:\n  kind: no-such-kind\n", `rules/r.yaml:10: rule "r": unknown check kind "no-such-kind" (valid: account-allowlist,`},
		{"unknown argument", "check:\n  kind: field-value\n  args:\n    at: pod\n    path: [hostNetwork]\n    equal: true\n  messages: {violation: x}\n",
			`rules/r.yaml:6: rule "r": check field-value: unknown argument "equal" (arguments: allowUnset, at, equals, notEquals, oneOf, path, set)`},
		{"missing argument", "check:\n  kind: field-value\n  args:\n    equals: true\n  messages: {violation: x}\n",
			`rules/r.yaml:4: rule "r": check field-value: missing argument "at"`},
		{"null argument", "check:\n  kind: node-targeting\n  args:\n    labels: [kubernetes.io/os]\n    value:\n  messages: {wrong-value: x, untargeted: y}\n",
			`check node-targeting: argument "value" is null`},
		{"wrong type", "check:\n  kind: user-name-format\n  args: {maxDomainBytes: many, maxUserBytes: 1, netbiosPattern: a, dnsPattern: b, invalidUserCharacters: c, onlyDotsAndSpaces: d}\n  messages: {invalid: x}\n",
			"cannot unmarshal !!str `many` into int"},
		{"two conditions", "check:\n  kind: field-value\n  args: {at: pod, path: [hostNetwork], equals: true, set: true}\n  messages: {violation: x}\n",
			"give exactly one of equals, notEquals, set: true and oneOf"},
		{"not inheritable", "check:\n  kind: field-value\n  args: {at: effective, path: [securityContext, privileged], set: true}\n  messages: {violation: x}\n",
			"path securityContext.privileged is not an inheritable field"},
		{"container at pod", "check:\n  kind: field-value\n  args: {at: pod, path: [hostNetwork], equals: true}\n  messages: {violation: '{container} is wrong'}\n",
			"{container} is not available at pod"},
		{"opt-in parameter", "check:\n  kind: account-denylist\n  args: {domain: NT AUTHORITY, accounts: [SYSTEM], optIn: allowSystem}\n  messages: {denied: x}\n",
			`optIn "allowSystem" is not a parameter of the rule`},
		{"missing message", "check:\n  kind: field-value\n  args: {at: pod, path: [hostNetwork], equals: true}\n",
			`check field-value needs message "violation" in check.messages (placeholders: {field}, {value}, {container})`},
		{"unknown message", "check:\n  kind: field-value\n  args: {at: pod, path: [hostNetwork], equals: true}\n  messages:\n    violation: x\n    other: y\n",
			`check field-value has no message "other" (its messages: violation)`},
		{"unknown placeholder", "check:\n  kind: field-value\n  args: {at: pod, path: [hostNetwork], equals: true}\n  messages:\n    violation: '{field} is {valeu}'\n",
			`message "violation" uses {valeu}, which check field-value does not fill (placeholders: {field}, {value}, {container})`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rule(t, tc.check)
			if r.Check.MessageLines == nil {
				r.Check.MessageLines = map[string]int{}
			}
			err := checks.Resolve(&spec.Spec{Rules: []*spec.Rule{r}})
			require.Error(t, err)
			require.ErrorIs(t, err, spec.ErrInvalid)
			require.Contains(t, err.Error(), tc.want)
			require.Nil(t, r.Check.Typed, "a rule that does not resolve has no typed arguments")
		})
	}
}

func TestResolveDecodesTypedArguments(t *testing.T) {
	r := rule(t, "check:\n  kind: field-value\n  args: {at: metadata, path: [annotations, a/b], oneOf: [x, y], allowUnset: true}\n  messages: {violation: '{field} is {value}'}\n")
	require.NoError(t, checks.Resolve(&spec.Spec{Rules: []*spec.Rule{r}}))
	require.NotNil(t, r.Check.Typed)
	out, err := checks.RenderRego(r, nil)
	require.NoError(t, err)
	require.Contains(t, out, `not value in ["x","y"]`)
	require.Contains(t, out, `".annotations[a/b]"`)
	require.Contains(t, out, `sprintf("%s is %s", [field, core.show(value)])`)
}

func TestEveryKindIsComplete(t *testing.T) {
	names := checks.Names()
	require.Len(t, names, 12)
	for _, n := range names {
		k := checks.Lookup(n)
		require.NotEmpty(t, k.Doc, n)
		require.NotEmpty(t, k.Messages, "%s: a kind has messages", n)
		for _, m := range k.Messages {
			require.NotEmpty(t, m.Placeholders, "%s/%s", n, m.ID)
		}
	}
}

func TestMessageText(t *testing.T) {
	r := rule(t, "check:\n  kind: field-value\n  args: {at: pod, path: [hostNetwork], equals: true}\n  messages: {violation: '100% of {field}: {value}; {notAPlaceholder'}\n")
	require.NoError(t, checks.Resolve(&spec.Spec{Rules: []*spec.Rule{r}}))
	out, err := checks.RenderRego(r, nil)
	require.NoError(t, err)
	require.Contains(t, out, `sprintf("100%% of %s: %s; {notAPlaceholder", [field, core.show(value)])`, "a % is escaped for sprintf")
}
