// Package policies exposes the built-in rule spec and the generated policies to the binary, so that
// hpguard evaluates exactly the artifacts it ships.
package policies

import (
	"embed"
	"io/fs"
)

//go:embed spec/ruleset.yaml spec/rules/*.yaml
var specFS embed.FS

//go:embed rego/data.json rego/lib/*.rego rego/rules/*.rego rego/profiles/*.rego rego/admission/*.rego
var regoFS embed.FS

// Spec returns the built-in spec (ruleset.yaml and rules/).
func Spec() fs.FS {
	sub, err := fs.Sub(specFS, "spec")
	if err != nil {
		panic(err)
	}
	return sub
}

// Rego returns the generated Rego policies and their data.json.
func Rego() fs.FS {
	sub, err := fs.Sub(regoFS, "rego")
	if err != nil {
		panic(err)
	}
	return sub
}
