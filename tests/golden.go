// Package tests holds hpguard's end-to-end tests and, for the binary, the golden cases that
// `hpguard generate` writes under tests/golden, which `hpguard report` runs through every engine.
package tests

import (
	"embed"
	"io/fs"
)

//go:embed golden
var goldenFS embed.FS

// Golden returns the committed golden directory (cases.json and the case manifests), to be read
// with golden.Load.
func Golden() fs.FS {
	sub, err := fs.Sub(goldenFS, "golden")
	if err != nil {
		panic(err)
	}
	return sub
}
