package generator

import (
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"strings"

	"github.com/hpguard/hpguard/generator/spec"
)

// gator suite types (gatekeeper pkg/gator/verify), with only the fields hpguard writes.
type gatorSuite struct {
	Kind       string            `json:"kind"`
	APIVersion string            `json:"apiVersion"`
	Metadata   map[string]string `json:"metadata"`
	Tests      []gatorTest       `json:"tests"`
}

type gatorTest struct {
	Name       string      `json:"name"`
	Template   string      `json:"template"`
	Constraint string      `json:"constraint"`
	Expansion  string      `json:"expansion,omitempty"`
	Cases      []gatorCase `json:"cases"`
}

type gatorCase struct {
	Name       string           `json:"name"`
	Object     string           `json:"object"`
	Assertions []gatorAssertion `json:"assertions"`
}

type gatorAssertion struct {
	Violations any     `json:"violations"`
	Message    *string `json:"message,omitempty"`
}

// suiteProfile is the profile whose Constraint of rule r the gator suite tests: the first profile
// where the rule denies, else the first that has it ("" when no profile has the rule).
func suiteProfile(s *spec.Spec, r *spec.Rule) string {
	first := ""
	for _, p := range s.Ruleset.Profiles {
		sev, ok := p.Rules[r.ID]
		if !ok {
			continue
		}
		if sev == spec.Deny {
			return p.Name
		}
		if first == "" {
			first = p.Name
		}
	}
	return first
}

func gatorSuiteFiles(s *spec.Spec) ([]File, error) {
	cases, err := Cases(s)
	if err != nil {
		return nil, err
	}
	var files []File
	suite := gatorSuite{Kind: "Suite", APIVersion: "test.gatekeeper.sh/v1alpha1", Metadata: map[string]string{"name": s.Ruleset.Name}}
	type testKey struct{ rule, params string }
	index := map[testKey]int{}
	for _, c := range cases {
		r := s.RuleByID(c.Rule)
		prof := suiteProfile(s, r)
		if prof == "" {
			continue // a rule in no profile has no Constraint to test
		}
		pj, _ := json.Marshal(c.Params)
		key := testKey{c.Rule, string(pj)}
		i, ok := index[key]
		if !ok {
			constraint := ConstraintPath(prof, r)
			name := c.Rule
			if len(c.Params) > 0 {
				name = constraintName(c.Rule + "-" + c.Value)
				params := r.ParamDefaults()
				for k, v := range c.Params {
					params[k] = v
				}
				con := NewConstraint(s, r, prof, "deny", params)
				con.Metadata.Name = name
				y, err := marshalYAML(con, "metadata.creationTimestamp")
				if err != nil {
					return nil, err
				}
				constraint = path.Join("tests", "constraints", name+".yaml")
				files = append(files, File{Path: path.Join(GatekeeperDir, constraint), Data: y})
			}
			i = len(suite.Tests)
			index[key] = i
			suite.Tests = append(suite.Tests, gatorTest{Name: name, Template: TemplatePath(r), Constraint: constraint})
		}
		assertions := caseAssertions(c)
		t := &suite.Tests[i]
		t.Cases = append(t.Cases, gatorCase{Name: strings.TrimPrefix(c.Name, c.Rule+"/"), Object: "../" + c.File, Assertions: assertions})
		if c.Kind == "Pod" && c.Level == spec.LevelEphemeral {
			review, err := ephemeralReview(c)
			if err != nil {
				return nil, err
			}
			y, err := marshalYAML(review)
			if err != nil {
				return nil, err
			}
			rel := path.Join("tests", "ephemeral-update", strings.TrimPrefix(c.File, GoldenDir+"/"))
			files = append(files, File{Path: path.Join(GatekeeperDir, rel), Data: y})
			t.Cases = append(t.Cases, gatorCase{Name: strings.TrimPrefix(c.Name, c.Rule+"/") + "-update", Object: rel, Assertions: assertions})
		}
	}
	// With the ExpansionTemplates loaded, the workloads of each rule's first disallowed value (with
	// default parameters) still give exactly the expected violations: the Pods generated from them
	// are not reviewed again.
	for _, r := range s.Rules {
		prof := suiteProfile(s, r)
		if prof == "" {
			continue
		}
		t := gatorTest{Name: r.ID + "-with-expansion", Template: TemplatePath(r), Constraint: ConstraintPath(prof, r), Expansion: ExpansionPath}
		value := ""
		for _, c := range cases {
			if c.Rule != r.ID || c.Allowed || len(c.Params) > 0 || (value != "" && c.Value != value) {
				continue
			}
			value = c.Value
			if c.Kind == "Pod" {
				continue
			}
			t.Cases = append(t.Cases, gatorCase{Name: strings.TrimPrefix(c.Name, c.Rule+"/"), Object: "../" + c.File, Assertions: caseAssertions(c)})
		}
		if len(t.Cases) > 0 {
			suite.Tests = append(suite.Tests, t)
		}
	}
	y, err := marshalYAML(suite)
	if err != nil {
		return nil, err
	}
	files = append(files, File{Path: path.Join(GatekeeperDir, "suite.yaml"), Data: y})
	return files, nil
}

// caseAssertions: no violation for an allowed case; for a disallowed one, exactly as many violations
// as expected findings, and for each expected finding one whose message names its field path.
func caseAssertions(c Case) []gatorAssertion {
	if c.Allowed || len(c.Expect) == 0 {
		return []gatorAssertion{{Violations: "no"}}
	}
	// The Rego engine reports one violation per finding, the CEL engine one per rule with the
	// findings' messages joined: count exactly only where both agree.
	var count any = "yes"
	if len(c.Expect) == 1 {
		count = 1
	}
	out := []gatorAssertion{{Violations: count}}
	seen := map[string]bool{}
	for _, e := range c.Expect {
		if seen[e.Field] {
			continue
		}
		seen[e.Field] = true
		msg := regexp.QuoteMeta(e.Field) + `($|[^\w.\[]|\.($|\s))`
		out = append(out, gatorAssertion{Violations: "yes", Message: &msg})
	}
	return out
}

// ephemeralReview is the AdmissionReview of `kubectl debug` adding the case's ephemeral container
// to the running pod: an UPDATE of the pods/ephemeralcontainers subresource whose oldObject is the
// pod without ephemeral containers.
func ephemeralReview(c Case) (map[string]any, error) {
	obj := clone(c.Object).(map[string]any)
	old := clone(c.Object).(map[string]any)
	spec, _ := old["spec"].(map[string]any)
	if spec == nil {
		return nil, fmt.Errorf("%s: pod without spec", c.Name)
	}
	delete(spec, "ephemeralContainers")
	meta, _ := obj["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	ns, _ := meta["namespace"].(string)
	gvk := map[string]any{"group": "", "version": "v1", "kind": "Pod"}
	gvr := map[string]any{"group": "", "version": "v1", "resource": "pods"}
	return map[string]any{
		"apiVersion": "admission.k8s.io/v1",
		"kind":       "AdmissionReview",
		"request": map[string]any{
			"uid":                "00000000-0000-0000-0000-000000000000",
			"kind":               gvk,
			"resource":           gvr,
			"subResource":        "ephemeralcontainers",
			"requestKind":        gvk,
			"requestResource":    gvr,
			"requestSubResource": "ephemeralcontainers",
			"name":               name,
			"namespace":          ns,
			"operation":          "UPDATE",
			"userInfo":           map[string]any{"username": "kubectl-debug-user"},
			"object":             obj,
			"oldObject":          old,
			"dryRun":             false,
			"options":            map[string]any{"apiVersion": "meta.k8s.io/v1", "kind": "UpdateOptions"},
		},
	}, nil
}
