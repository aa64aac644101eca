package report

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// DefaultFormat is the output format used when the caller does not choose one.
const DefaultFormat = "text"

// Options configure a reporter.
type Options struct {
	// Color turns on ANSI colour. Only the text reporter uses it; the caller
	// decides (colour only when writing to a terminal).
	Color bool
	// Verbose makes the text reporter also list documents without findings
	// and skipped documents.
	Verbose bool
	// Rules is every rule of the evaluated profile, in the order reporters that
	// document rules (SARIF, JUnit) should list them.
	Rules []Rule
	// ToolVersion is the hpguard version, recorded by reporters that name the tool.
	ToolVersion string
	// FailOn is the lowest severity that fails the run ("deny" when empty): reporters with a
	// verdict per test (JUnit, TAP, GitHub annotations) fail a warn finding exactly when it fails
	// the run.
	FailOn string
}

// Reporter renders a Report in one output format.
type Reporter interface {
	Write(w io.Writer, r *Report, opts Options) error
}

// reporters maps each format name to its reporter; every reporter file
// registers itself from init.
var reporters = map[string]Reporter{}

// register adds a reporter under name; a name registered twice is a
// programming error.
func register(name string, r Reporter) {
	if _, dup := reporters[name]; dup {
		panic("report: reporter " + name + " registered twice")
	}
	reporters[name] = r
}

// Get returns the reporter for the output format name.
func Get(name string) (Reporter, error) {
	if r, ok := reporters[name]; ok {
		return r, nil
	}
	return nil, fmt.Errorf("unknown output format %q (valid: %s)", name, strings.Join(Names(), ", "))
}

// Names returns the names of all output formats, sorted.
func Names() []string {
	names := make([]string, 0, len(reporters))
	for name := range reporters {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}
