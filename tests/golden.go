// Package tests holds hpguard's end-to-end tests and, for the binary, the golden cases that
// `hpguard generate` writes under tests/golden, which `hpguard report` runs through every engine.
package tests

import (
	"embed"
	"io/fs"
)

// The pattern matches the golden directory and this file: it does not fail when the directory is
// missing, so that `make generate` can always build hpguard and write it.
//
//go:embed golden*
var goldenFS embed.FS

// Golden returns the committed golden directory (cases.json and the case manifests), to be read
// with golden.Load; it is empty when the directory was missing at build time.
func Golden() fs.FS {
	sub, err := fs.Sub(goldenFS, "golden")
	if err != nil {
		panic(err)
	}
	return sub
}
