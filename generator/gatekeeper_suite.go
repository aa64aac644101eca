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

// suiteForm is a form of the Gatekeeper policies that a gator suite tests: the per-rule templates
// (gatekeeper/suite.yaml) or the combined template (gatekeeper/combined/suite.yaml).
type suiteForm struct {
	// dir is the suite's directory, relative to GatekeeperDir ("" or CombinedDir).
	dir string
	// template is the path of rule r's template, relative to dir.
	template func(r *spec.Rule) string
	// profileConstraint is the path of a Constraint of rule r with its default parameters,
	// relative to dir, when the form ships one ("" otherwise: the suite writes its own).
	profileConstraint func(profile string, r *spec.Rule) string
	// constraint builds a deny Constraint of rule r alone with the given parameters.
	constraint func(r *spec.Rule, profile, name string, params map[string]any) Constraint
}

// gatorForms are the two forms, each with its suite.
func gatorForms(s *spec.Spec) []suiteForm {
	return []suiteForm{
		{
			template:          TemplatePath,
			profileConstraint: ConstraintPath,
			constraint: func(r *spec.Rule, profile, name string, params map[string]any) Constraint {
				c := NewConstraint(s, r, profile, "deny", params)
				c.Metadata.Name = name
				return c
			},
		},
		{
			dir:               CombinedDir,
			template:          func(*spec.Rule) string { return path.Join("template", "constrainttemplate.yaml") },
			profileConstraint: func(string, *spec.Rule) string { return "" },
			constraint: func(r *spec.Rule, profile, name string, params map[string]any) Constraint {
				return combinedConstraint(s, profile, name, "deny", map[string]any{r.ID: params})
			},
		},
	}
}

func gatorSuiteFiles(s *spec.Spec) ([]File, error) {
	var files []File
	for _, form := range gatorForms(s) {
		f, err := gatorSuiteOf(s, form)
		if err != nil {
			return nil, err
		}
		files = append(files, f...)
	}
	return files, nil
}

// gatorSuiteOf writes a form's suite: every golden case of every rule, against a Constraint of that
// rule alone (its profile's, or one with the case's parameters), and each rule's first disallowed
// workloads with the ExpansionTemplates loaded.
func gatorSuiteOf(s *spec.Spec, form suiteForm) ([]File, error) {
	cases, err := Cases(s)
	if err != nil {
		return nil, err
	}
	var files []File
	depth := 0 // of the suite's directory below GatekeeperDir
	if form.dir != "" {
		depth = 1 + strings.Count(form.dir, "/")
	}
	up := strings.Repeat("../", 1+depth) // from the suite's directory to the repository's root
	rel := func(p string) string {       // a path relative to GatekeeperDir, from the suite's directory
		return strings.Repeat("../", depth) + p
	}
	suite := gatorSuite{Kind: "Suite", APIVersion: "test.gatekeeper.sh/v1alpha1", Metadata: map[string]string{"name": s.Ruleset.Name}}
	if form.dir != "" {
		suite.Metadata["name"] = s.Ruleset.Name + "-" + path.Base(form.dir)
	}
	// constraintFor is the path (relative to the suite) of a Constraint of rule r alone with
	// params (nil: the defaults), written when the form does not ship one.
	constraintFor := func(r *spec.Rule, prof, name string, params map[string]any) (string, error) {
		if params == nil {
			if p := form.profileConstraint(prof, r); p != "" {
				return p, nil
			}
			params = r.ParamDefaults()
		}
		con := form.constraint(r, prof, name, params)
		y, err := marshalYAML(con, "metadata.creationTimestamp")
		if err != nil {
			return "", err
		}
		p := path.Join("tests", "constraints", name+".yaml")
		files = append(files, File{Path: path.Join(GatekeeperDir, form.dir, p), Data: y})
		return p, nil
	}
	type testKey struct{ rule, params string }
	index := map[testKey]int{}
	defaults := map[string]string{} // rule -> its default-parameter Constraint in this suite
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
			name := c.Rule
			var params map[string]any
			if len(c.Params) > 0 {
				name = constraintName(c.Rule + "-" + c.Value)
				params = r.ParamDefaults()
				for k, v := range c.Params {
					params[k] = v
				}
			}
			constraint, err := constraintFor(r, prof, name, params)
			if err != nil {
				return nil, err
			}
			if params == nil {
				defaults[r.ID] = constraint
			}
			i = len(suite.Tests)
			index[key] = i
			suite.Tests = append(suite.Tests, gatorTest{Name: name, Template: form.template(r), Constraint: constraint})
		}
		assertions := caseAssertions(c)
		t := &suite.Tests[i]
		t.Cases = append(t.Cases, gatorCase{Name: strings.TrimPrefix(c.Name, c.Rule+"/"), Object: up + c.File, Assertions: assertions})
		if c.Kind == "Pod" && c.Level == spec.LevelEphemeral {
			review, err := ephemeralReview(c)
			if err != nil {
				return nil, err
			}
			y, err := marshalYAML(review)
			if err != nil {
				return nil, err
			}
			p := path.Join("tests", "ephemeral-update", strings.TrimPrefix(c.File, GoldenDir+"/"))
			if form.dir == "" {
				files = append(files, File{Path: path.Join(GatekeeperDir, p), Data: y})
			}
			t.Cases = append(t.Cases, gatorCase{Name: strings.TrimPrefix(c.Name, c.Rule+"/") + "-update", Object: rel(p), Assertions: assertions})
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
		constraint := defaults[r.ID]
		if constraint == "" {
			var err error
			if constraint, err = constraintFor(r, prof, r.ID, nil); err != nil {
				return nil, err
			}
		}
		t := gatorTest{Name: r.ID + "-with-expansion", Template: form.template(r), Constraint: constraint, Expansion: rel(ExpansionPath)}
		value := ""
		for _, c := range cases {
			if c.Rule != r.ID || c.Allowed || len(c.Params) > 0 || (value != "" && c.Value != value) {
				continue
			}
			value = c.Value
			if c.Kind == "Pod" {
				continue
			}
			t.Cases = append(t.Cases, gatorCase{Name: strings.TrimPrefix(c.Name, c.Rule+"/"), Object: up + c.File, Assertions: caseAssertions(c)})
		}
		if len(t.Cases) > 0 {
			suite.Tests = append(suite.Tests, t)
		}
	}
	y, err := marshalYAML(suite)
	if err != nil {
		return nil, err
	}
	files = append(files, File{Path: path.Join(GatekeeperDir, form.dir, "suite.yaml"), Data: y})
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
