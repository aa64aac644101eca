// Command decode reads manifests with the same reader hpguard uses (internal/manifest, kubectl-exact
// decoding) and evaluates nothing: the decode-only floor of the benchmark.
package main

import (
	"fmt"
	"os"

	"github.com/hpguard/hpguard/internal/manifest"
)

func main() {
	files, err := manifest.Expand(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "decode:", err)
		os.Exit(2)
	}
	docs, errs := 0, 0
	for _, f := range files {
		err := manifest.StreamFile(f, os.Stdin, manifest.DefaultOptions(), func(d manifest.Document) {
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
