// Package engine evaluates workloads against hpguard policies. The default engine is OPA embedded in
// the binary, running the very Rego hpguard ships.
package engine

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/hpguard/hpguard/internal/ruleset"
)

// ErrParams is wrapped by every invalid-parameter error (it is ruleset.ErrParams).
var ErrParams = ruleset.ErrParams

// Policy is a loaded set of policies: Rego modules, the ruleset metadata and the data document.
type Policy struct {
	// Modules maps a module's path to its source (tests excluded).
	Modules map[string]string
	// Ruleset is the metadata shipped beside the Rego (data.json).
	Ruleset *ruleset.Ruleset
	// Data is the raw data.json document.
	Data []byte
}

// LoadPolicy reads Rego modules (skipping *_test.rego) and data.json from fsys.
func LoadPolicy(fsys fs.FS) (*Policy, error) {
	p := &Policy{Modules: map[string]string{}}
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		switch {
		case strings.HasSuffix(name, "_test.rego"):
		case strings.HasSuffix(name, ".rego"):
			b, err := fs.ReadFile(fsys, name)
			if err != nil {
				return err
			}
			p.Modules[name] = string(b)
		case path.Base(name) == "data.json":
			b, err := fs.ReadFile(fsys, name)
			if err != nil {
				return err
			}
			p.Data = b
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load policy: %w", err)
	}
	if len(p.Modules) == 0 {
		return nil, fmt.Errorf("load policy: no .rego modules found")
	}
	if p.Data == nil {
		return nil, fmt.Errorf("load policy: no data.json (ruleset metadata) found; generate the policy with `hpguard generate`")
	}
	rs, err := ruleset.Parse(p.Data)
	if err != nil {
		return nil, fmt.Errorf("load policy: %w", err)
	}
	p.Ruleset = rs
	return p, nil
}

// Params are operator overrides of rule parameters: rule id -> parameter name -> value.
type Params map[string]map[string]any

// Validate checks that every rule and parameter exists and every value matches its schema
// (ruleset.ValidateParams, the check every engine applies).
func (ps Params) Validate(rs *ruleset.Ruleset) error { return rs.ValidateParams(ps) }

// Merge returns ps overridden by other (per parameter).
func (ps Params) Merge(other Params) Params {
	out := Params{}
	for _, src := range []Params{ps, other} {
		for id, m := range src {
			if out[id] == nil {
				out[id] = map[string]any{}
			}
			for k, v := range m {
				out[id][k] = v
			}
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
