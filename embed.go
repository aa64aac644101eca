// Package hpguard holds the artifacts that live at the project root: the OPA bundle recipe
// (bundle.tar.gz.tmpl) and the generated, reproducible OPA bundle (bundle.tar.gz), embedded so that
// the binary can build and evaluate exactly the bundle it ships.
package hpguard

import (
	"embed"
	"fmt"
)

// The pattern matches the recipe and, once generated, the bundle; it does not fail when the bundle
// is missing, so `make generate` can always rebuild it.
//
//go:embed bundle.tar.gz*
var rootFS embed.FS

// BundleTemplate is bundle.tar.gz.tmpl, the recipe of the bundle's .manifest.
func BundleTemplate() string {
	b, err := rootFS.ReadFile("bundle.tar.gz.tmpl")
	if err != nil {
		panic(err)
	}
	return string(b)
}

// Bundle returns the generated bundle.tar.gz embedded in the binary.
func Bundle() ([]byte, error) {
	b, err := rootFS.ReadFile("bundle.tar.gz")
	if err != nil {
		return nil, fmt.Errorf("embedded bundle: %w (run `make generate`)", err)
	}
	return b, nil
}
