package engine

import (
	"context"
	"fmt"
	"io/fs"
	"slices"
	"strings"
)

// Sources are what engines are built from.
type Sources struct {
	// Policy is the policy the OPA engine evaluates; its ruleset is what every engine validates
	// parameters against.
	Policy *Policy
	// Gatekeeper is the generated gatekeeper/ directory (gatekeeper.FS()).
	Gatekeeper fs.FS
	// VAP is the generated vap/ directory (vap.FS()).
	VAP fs.FS
	// Kyverno is the generated kyverno/ directory (kyverno.FS()).
	Kyverno fs.FS
}

// Kind is a registered engine: how to build it and how to describe it.
type Kind struct {
	// Name selects the engine, e.g. "opa".
	Name string
	// Title is how reports name it, e.g. "OPA".
	Title string
	// Shipped, when set, says which shipped artifacts the engine evaluates whatever Sources.Policy
	// is, e.g. "the shipped templates"; it is empty for an engine that evaluates Sources.Policy.
	Shipped string
	// build prepares the evaluator of a profile with parameters already validated.
	build func(ctx context.Context, src Sources, profile string, params Params) (Evaluator, error)
}

// kinds maps each engine name to its kind; every engine file registers itself from init.
var kinds = map[string]Kind{}

// register adds an engine; a name registered twice is a programming error.
func register(k Kind) {
	if _, dup := kinds[k.Name]; dup {
		panic("engine: " + k.Name + " registered twice")
	}
	kinds[k.Name] = k
}

// Lookup returns the engine of the given name, or an error naming the valid ones.
func Lookup(name string) (Kind, error) {
	if k, ok := kinds[name]; ok {
		return k, nil
	}
	return Kind{}, fmt.Errorf("unknown engine %q (valid: %s)", name, strings.Join(Names(), ", "))
}

// Names returns the names of all engines, sorted.
func Names() []string {
	names := make([]string, 0, len(kinds))
	for name := range kinds {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// New builds the named engine for a profile. Every engine validates params the same way, against
// the ruleset of src.Policy (Params.Validate), before it is built.
func New(ctx context.Context, name string, src Sources, profile string, params Params) (Evaluator, error) {
	k, err := Lookup(name)
	if err != nil {
		return nil, err
	}
	return k.New(ctx, src, profile, params)
}

// New builds the engine for a profile, as the package-level New does.
func (k Kind) New(ctx context.Context, src Sources, profile string, params Params) (Evaluator, error) {
	if src.Policy == nil {
		return nil, fmt.Errorf("%s engine: no policy to validate parameters against", k.Name)
	}
	if err := params.Validate(src.Policy.Ruleset); err != nil {
		return nil, err
	}
	return k.build(ctx, src, profile, params)
}

// evaluator returns ev as an Evaluator, nil on error (not an interface holding a nil pointer).
func evaluator[E Evaluator](ev E, err error) (Evaluator, error) {
	if err != nil {
		return nil, err
	}
	return ev, nil
}
