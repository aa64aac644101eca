// Package spec defines the declarative HostProcess rule spec (policies/spec/), the one source of truth
// from which every hpguard artifact is generated, and loads and validates it.
package spec

import "go.yaml.in/yaml/v3"

// Spec is a loaded rule set: the ruleset file and its rules, in id order.
type Spec struct {
	Ruleset Ruleset
	Rules   []*Rule
	// Dir is the directory the spec was loaded from (for messages only).
	Dir string
}

// Ruleset is policies/spec/ruleset.yaml.
type Ruleset struct {
	// Name of the rule set, e.g. "hpguard"; used in bundle metadata and Gatekeeper kind names.
	Name string `yaml:"name"`
	// Version is the rule set's semantic version, recorded in the bundle manifest and templates.
	Version string `yaml:"version"`
	// Package is the Rego package root, e.g. "hpguard". Rules live under <Package>.rules, the shared
	// library under <Package>.lib and profiles under <Package>.profiles.
	Package string `yaml:"package"`
	// Description is one paragraph about the rule set.
	Description string `yaml:"description"`
	// DefaultProfile is the profile used when none is named (must be one of Profiles).
	DefaultProfile string `yaml:"defaultProfile"`
	// Profiles are the named rule selections, in the order they are documented.
	Profiles []Profile `yaml:"profiles"`
	// NameComparison defines how every engine compares names that Windows compares without regard
	// to case (account and group names, named-pipe paths): allow-lists fold ASCII letters only,
	// deny-lists also read the look-alikes listed here as their ASCII letters.
	NameComparison NameComparison `yaml:"nameComparison"`
	// Rewrites lists what the API server changes in a pod spec before admission (conversion,
	// defaulting, mutating admission plugins) and how the rules read each field, for the rule docs.
	Rewrites []Rewrite `yaml:"rewrites"`
}

// Rewrite is one change the API server makes before admission that could change what a rule reads.
type Rewrite struct {
	// Field is the field path relative to the pod spec or metadata, e.g. "serviceAccount".
	Field string `yaml:"field"`
	// Change says what the API server does.
	Change string `yaml:"change"`
	// Handling says how the rules read the field because of it.
	Handling string `yaml:"handling"`
	// Source is the code that makes the change (a URL).
	Source string `yaml:"source"`
}

// NameComparison is the ruleset's definition of case-insensitive name comparison.
type NameComparison struct {
	// Description states the semantics, for the rule docs.
	Description string `yaml:"description"`
	// Lookalikes are non-ASCII characters that a deny-list match reads as an ASCII character,
	// because some engine's or Windows' case mapping turns them into it.
	Lookalikes []Lookalike `yaml:"lookalikes"`
	// Fullwidth makes a deny-list match read the fullwidth forms U+FF01-U+FF5E as U+0021-U+007E
	// and U+3000 as a space.
	Fullwidth bool `yaml:"fullwidth"`
}

// Lookalike is one character a deny-list match reads as an ASCII character.
type Lookalike struct {
	// Char is the character (one code point, not ASCII).
	Char string `yaml:"char"`
	// As is the lower-case ASCII character it stands for.
	As string `yaml:"as"`
	// Why names the mapping that makes it a look-alike (for the docs).
	Why string `yaml:"why"`
}

// Profile is a named set of rules, each with the severity it has in that profile.
type Profile struct {
	// Name is the profile id, e.g. "hostprocess" (lower-case letters, digits and dashes).
	Name string `yaml:"name"`
	// Description says whom the profile is for.
	Description string `yaml:"description"`
	// Rules maps rule id to its severity in this profile ("deny" or "warn"); a rule not listed is off.
	Rules map[string]Severity `yaml:"rules"`

	// Line and RuleLines locate the profile and its entries in ruleset.yaml (set by Load).
	Line      int            `yaml:"-"`
	RuleLines map[string]int `yaml:"-"`
}

// Severity of a finding: "deny" fails a check, "warn" fails it only with --fail-on warn.
type Severity string

// Severities.
const (
	Deny Severity = "deny"
	Warn Severity = "warn"
)

// Rule is one file under policies/spec/rules/.
type Rule struct {
	// ID is the rule's kebab-case id; the file must be named <id>.yaml.
	ID string `yaml:"id"`
	// Title is a one-line summary (used as SARIF short description and Gatekeeper title).
	Title string `yaml:"title"`
	// Reference is the id of the fact in the HostProcess rule reference, e.g. "R4".
	Reference string `yaml:"reference"`
	// Description explains what the rule checks and why.
	Description string `yaml:"description"`
	// Remediation says how to fix a finding.
	Remediation string `yaml:"remediation"`
	// Sources are links to the documents and code the rule is derived from (at least one).
	Sources []Source `yaml:"sources"`
	// Scope is "hostprocess-pods" (the rule is silent on pods without HostProcess containers) or
	// "all-pods".
	Scope Scope `yaml:"scope"`
	// Reads lists the fields the rule reads, relative to the pod spec, metadata or a container,
	// for documentation.
	Reads []string `yaml:"reads"`
	// Check is the declarative check: a kind and its arguments.
	Check Check `yaml:"check"`
	// Parameters the operator may set; each needs a JSON schema and a default.
	Parameters []Parameter `yaml:"parameters"`
	// Golden holds every allowed and every disallowed value of the fields the rule checks.
	Golden Golden `yaml:"golden"`

	// File and Line locate the rule for messages (set by Load).
	File string `yaml:"-"`
	Line int    `yaml:"-"`
}

// Source is a reference a rule is derived from.
type Source struct {
	// Title names the document or code, e.g. "kube-apiserver validateWindowsHostProcessPod".
	Title string `yaml:"title"`
	// URL links to it.
	URL string `yaml:"url"`
}

// Scope says which pods a rule looks at.
type Scope string

// Scopes.
const (
	ScopeHostProcessPods Scope = "hostprocess-pods"
	ScopeAllPods         Scope = "all-pods"
)

// Check is the declarative check of a rule: a kind of check (generator/checks/<kind>/), its
// arguments and the text of its messages. Args are decoded into the kind's typed arguments, and
// Messages checked against the kind's messages and placeholders, when the generator resolves the spec
// (checks.Resolve): an unknown kind, an unknown or missing argument, a missing message or an unknown
// placeholder is an error with file and line.
type Check struct {
	// Kind is one of the registered check kinds (see checks.Names).
	Kind string `yaml:"kind"`
	// Args are the kind's arguments, as written (decoded by the kind).
	Args yaml.Node `yaml:"args"`
	// Messages maps each message id of the kind to its text. {name} is a placeholder the kind fills
	// in (for example {field}, the field path, and {value}, the value found).
	Messages map[string]string `yaml:"messages"`

	// Typed holds the decoded arguments (a pointer to the kind's argument struct), set by
	// checks.Resolve.
	Typed any `yaml:"-"`
	// Line, and MessageLines for each message, locate the check in the rule file (set by Load).
	Line         int            `yaml:"-"`
	MessageLines map[string]int `yaml:"-"`
}

// Parameter is an operator-settable parameter of a rule.
type Parameter struct {
	// Name is the parameter's camelCase name (the key under the rule in --params files and
	// Gatekeeper Constraint spec.parameters).
	Name string `yaml:"name"`
	// Description says what the parameter does.
	Description string `yaml:"description"`
	// Schema is the parameter's JSON schema (OpenAPI v3 subset: type, items, enum, pattern).
	Schema map[string]any `yaml:"schema"`
	// Default is the value used when the operator sets none; it must be present (may be empty).
	Default any `yaml:"default"`

	// HasDefault records whether default was written in the file (set by Load).
	HasDefault bool `yaml:"-"`
	Line       int  `yaml:"-"`
}

// Golden lists the golden values of a rule. Each value is applied to a base manifest at each level
// it names, and for the first level also inside every workload kind.
type Golden struct {
	// Base is the manifest the values are applied to: "hostprocess" (a valid HostProcess pod, as the
	// seed document configures it) or "windows" (an ordinary Windows pod).
	Base string `yaml:"base"`
	// Allowed values give no finding of this rule.
	Allowed []GoldenValue `yaml:"allowed"`
	// Disallowed values give exactly the findings in Expect.
	Disallowed []GoldenValue `yaml:"disallowed"`
}

// GoldenValue is one allowed or disallowed value.
type GoldenValue struct {
	// Name is a short kebab-case name, unique within the rule.
	Name string `yaml:"name"`
	// Description says what the value shows.
	Description string `yaml:"description"`
	// At lists where Patch is applied: "pod" (the pod spec) or a container list ("initContainers",
	// "containers", "ephemeralContainers", meaning the first container of that list). Default: pod.
	At []string `yaml:"at"`
	// Patch is a JSON merge patch (RFC 7386: null removes a key) applied at each At target.
	Patch map[string]any `yaml:"patch"`
	// PodPatch is a JSON merge patch applied to the pod spec as well, whatever the target.
	PodPatch map[string]any `yaml:"podPatch"`
	// MetaPatch is a JSON merge patch applied to the pod metadata.
	MetaPatch map[string]any `yaml:"metaPatch"`
	// Params override the rule's parameters for this case.
	Params map[string]any `yaml:"params"`
	// Expect lists the findings of this rule a disallowed value produces (empty for allowed values).
	Expect []Expectation `yaml:"expect"`
}

// Expectation is one expected finding. Field may use the placeholders {target} (the path of the At
// target, e.g. "spec.containers[0]" or "spec"), {pod} (the pod spec path) and {meta} (the pod
// metadata path), so that one expectation serves every level and workload kind.
type Expectation struct {
	// Field is the expected field path (with placeholders).
	Field string `yaml:"field"`
	// Container is the expected container: "{target}" for the target container, a literal name,
	// or empty for a pod-level finding.
	Container string `yaml:"container"`
}

// Levels a golden value can be applied at.
const (
	LevelPod       = "pod"
	LevelInit      = "initContainers"
	LevelContainer = "containers"
	LevelEphemeral = "ephemeralContainers"
)

// RuleByID returns the rule with the given id, or nil.
func (s *Spec) RuleByID(id string) *Rule {
	for _, r := range s.Rules {
		if r.ID == id {
			return r
		}
	}
	return nil
}

// ProfileByName returns the named profile, or nil.
func (s *Spec) ProfileByName(name string) *Profile {
	for i := range s.Ruleset.Profiles {
		if s.Ruleset.Profiles[i].Name == name {
			return &s.Ruleset.Profiles[i]
		}
	}
	return nil
}

// ParamDefaults returns the rule's parameter defaults keyed by parameter name.
func (r *Rule) ParamDefaults() map[string]any {
	out := map[string]any{}
	for _, p := range r.Parameters {
		out[p.Name] = p.Default
	}
	return out
}
