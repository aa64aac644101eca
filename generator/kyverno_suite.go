package generator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/hpguard/hpguard/generator/spec"
)

// The `kyverno test` suite of the golden cases (kyverno/tests/<rule>/kyverno-test.yaml), as
// gatekeeper/suite.yaml is for gator: each rule's policy of its suite profile (the first that denies
// it) over the rule's cases, pass for an allowed case and fail for a disallowed one; the cases with
// parameters of their own are a test of their own per parameter set
// (kyverno/tests/<rule>/params-<n>/), with a copy of the policy whose hpParams holds them.
//
// The Kyverno CLI keys resources by kind, namespace and name and drops duplicates, and every golden
// case is a workload named "golden", so each test carries its cases in resources.yaml, each renamed
// after its case (KyvernoSuiteName).

// Kyverno CLI test types (kyverno cmd/cli/kubectl-kyverno/apis/v1alpha1), with only the fields
// hpguard writes.
type kyvernoTest struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   map[string]string `json:"metadata"`
	Policies   []string          `json:"policies"`
	Resources  []string          `json:"resources"`
	Results    []kyvernoResult   `json:"results"`
}

type kyvernoResult struct {
	Policy             string   `json:"policy"`
	IsValidatingPolicy bool     `json:"isValidatingPolicy"`
	Kind               string   `json:"kind"`
	Resources          []string `json:"resources"`
	Result             string   `json:"result"`
}

// KyvernoSuiteName is the name a golden case's object has in the Kyverno suite: its index among
// the rule's cases and its case name (value, level, kind), as a DNS label.
func KyvernoSuiteName(i int, c Case) string {
	n := strings.TrimPrefix(c.Name, c.Rule+"/")
	n = strings.ToLower(n)
	n = nonDNS.ReplaceAllString(n, "-")
	n = strings.Trim(n, "-")
	name := fmt.Sprintf("c%03d-%s", i, n)
	if len(name) > 63 {
		name = strings.TrimRight(name[:63], "-")
	}
	return name
}

var nonDNS = regexp.MustCompile(`[^a-z0-9]+`)

func kyvernoSuiteFiles(s *spec.Spec) ([]File, error) {
	cases, err := Cases(s)
	if err != nil {
		return nil, err
	}
	byRule := map[string][]Case{}
	for _, c := range cases {
		byRule[c.Rule] = append(byRule[c.Rule], c)
	}
	var files []File
	for _, r := range s.Rules {
		prof := suiteProfile(s, r)
		if prof == "" || len(byRule[r.ID]) == 0 {
			continue // a rule in no profile has no policy to test
		}
		// One test per parameter set: the CLI compiles every policy of a test again for each of its
		// resources, so each case meets only its own policy.
		type group struct {
			dir, policy string
			params      map[string]any
			cases       []int
		}
		var groups []*group
		byParams := map[string]*group{}
		variants := 0
		for i, c := range byRule[r.ID] {
			key := "" // no parameters of its own, however written
			if len(c.Params) > 0 {
				pj, err := json.Marshal(c.Params)
				if err != nil {
					return nil, err
				}
				key = string(pj)
			}
			g := byParams[key]
			if g == nil {
				g = &group{dir: path.Join(KyvernoDir, "tests", r.ID), policy: KyvernoPolicyName(r), params: c.Params}
				if len(c.Params) > 0 {
					variants++
					g.dir = path.Join(g.dir, fmt.Sprintf("params-%d", variants))
					g.policy = fmt.Sprintf("%s-params-%d", KyvernoPolicyName(r), variants)
				}
				byParams[key] = g
				groups = append(groups, g)
			}
			g.cases = append(g.cases, i)
		}
		for _, g := range groups {
			test := kyvernoTest{
				APIVersion: "cli.kyverno.io/v1alpha1", Kind: "Test",
				Metadata:  map[string]string{"name": g.policy},
				Resources: []string{"resources.yaml"},
			}
			if len(g.params) == 0 {
				test.Policies = []string{path.Join("..", "..", KyvernoPolicyPath(prof, r))}
			} else {
				sev := s.ProfileByName(prof).Rules[r.ID]
				data, err := KyvernoPolicy(s, r, prof, sev, g.params)
				if err != nil {
					return nil, err
				}
				data = bytes.Replace(data, []byte("\n  name: "+KyvernoPolicyName(r)+"\n"), []byte("\n  name: "+g.policy+"\n"), 1)
				files = append(files, File{Path: path.Join(g.dir, "policy.yaml"), Data: data})
				test.Policies = []string{"policy.yaml"}
			}
			type key struct{ kind, result string }
			results := map[key][]string{}
			var keys []key
			var docs bytes.Buffer
			docs.WriteString("# " + Header + "\n")
			for _, i := range g.cases {
				c := byRule[r.ID][i]
				obj := clone(c.Object).(map[string]any)
				meta, _ := obj["metadata"].(map[string]any)
				if meta == nil {
					return nil, fmt.Errorf("kyverno suite: %s: object without metadata", c.Name)
				}
				name := KyvernoSuiteName(i, c)
				meta["name"] = name
				y, err := marshalYAML(obj)
				if err != nil {
					return nil, err
				}
				fmt.Fprintf(&docs, "---\n# %s\n", c.Name)
				docs.Write(bytes.TrimPrefix(y, []byte("# "+Header+"\n")))
				result := "pass"
				if !c.Allowed {
					result = "fail"
				}
				k := key{c.Kind, result}
				if results[k] == nil {
					keys = append(keys, k)
				}
				results[k] = append(results[k], name)
			}
			sort.SliceStable(keys, func(i, j int) bool {
				if keys[i].result != keys[j].result {
					return keys[i].result > keys[j].result // pass first
				}
				return keys[i].kind < keys[j].kind
			})
			for _, k := range keys {
				test.Results = append(test.Results, kyvernoResult{Policy: g.policy, IsValidatingPolicy: true, Kind: k.kind, Resources: results[k], Result: k.result})
			}
			y, err := marshalYAML(test)
			if err != nil {
				return nil, err
			}
			files = append(files,
				File{Path: path.Join(g.dir, "kyverno-test.yaml"), Data: y},
				File{Path: path.Join(g.dir, "resources.yaml"), Data: docs.Bytes()})
		}
	}
	return files, nil
}
