//go:build bench

// Command decode reads manifests with the same reader hpguard uses (internal/manifest, kubectl-exact
// decoding) and evaluates nothing: the decode-only floor of the benchmark.
package main

import (
	"fmt"
	"os"

	"github.com/hpguard/hpguard/internal/manifest"
)

func main() {
	docs, errs := 0, 0
	for _, in := range manifest.Expand(os.Args[1:]) {
		if in.Err != nil {
			fmt.Fprintln(os.Stderr, "decode:", in.Err)
			errs++
			continue
		}
		err := manifest.StreamFile(in.Path, os.Stdin, manifest.DefaultOptions(), func(d manifest.Document) {
			docs++
			if d.Err != nil {
				errs++
			}
		})
		if err != nil {
			errs++
		}
	}
	fmt.Printf("%d documents, %d errors\n", docs, errs)
	if errs > 0 {
		os.Exit(2)
	}
}
