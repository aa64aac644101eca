// Package golden is the golden test cases: manifests built from every allowed and disallowed value
// of every rule, at every level and in every workload kind, each with the findings of its rule it
// must produce. The generator writes them under Dir (one manifest per case and the index,
// cases.json); the tests and the audit report load them with Load.
package golden

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"strings"

	"sigs.k8s.io/yaml"
)

const (
	// Dir is the project-relative directory of the golden cases.
	Dir = "tests/golden"
	// IndexFile is the name of the index of every case, in Dir.
	IndexFile = "cases.json"
)

// Case is one golden case: a manifest built from a golden value and the findings of its rule it must
// produce (none for an allowed value).
type Case struct {
	// Name is unique: <rule>/<allowed|disallowed>/<value>-<level>[-<kind>].
	Name    string         `json:"name"`
	Rule    string         `json:"rule"`
	Value   string         `json:"value"`
	Allowed bool           `json:"allowed"`
	Level   string         `json:"level"`
	Kind    string         `json:"kind"`
	File    string         `json:"file"`
	Params  map[string]any `json:"params,omitempty"`
	Expect  []Expected     `json:"expect"`
	// Object is the manifest (not in the index; it is the case's file).
	Object map[string]any `json:"-"`
}

// Expected is one expected finding of the case's rule.
type Expected struct {
	Field     string `json:"field"`
	Container string `json:"container,omitempty"`
}

// LoadIndex reads the cases from the index in fsys, the golden directory (Dir), without their
// manifests.
func LoadIndex(fsys fs.FS) ([]Case, error) {
	b, err := fs.ReadFile(fsys, IndexFile)
	if err != nil {
		return nil, fmt.Errorf("golden cases: %w", err)
	}
	var cases []Case
	if err := json.Unmarshal(b, &cases); err != nil {
		return nil, fmt.Errorf("golden cases: %s: %w", IndexFile, err)
	}
	if len(cases) == 0 {
		return nil, fmt.Errorf("golden cases: %s lists no case", IndexFile)
	}
	return cases, nil
}

// Load reads every case from fsys, the golden directory (Dir): the index and each case's manifest.
func Load(fsys fs.FS) ([]Case, error) {
	cases, err := LoadIndex(fsys)
	if err != nil {
		return nil, err
	}
	for i := range cases {
		if err := cases[i].LoadObject(fsys); err != nil {
			return nil, err
		}
	}
	return cases, nil
}

// LoadObject reads the case's manifest from fsys, the golden directory (Dir), into Object.
func (c *Case) LoadObject(fsys fs.FS) error {
	name, ok := strings.CutPrefix(c.File, Dir+"/")
	if !ok {
		return fmt.Errorf("golden case %s: file %s is not under %s", c.Name, c.File, Dir)
	}
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return fmt.Errorf("golden case %s: %w", c.Name, err)
	}
	var obj map[string]any
	if err := yaml.Unmarshal(b, &obj); err != nil {
		return fmt.Errorf("golden case %s: %s: %w", c.Name, c.File, err)
	}
	c.Object = obj
	return nil
}
