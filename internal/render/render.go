// Package render turns what users deploy into manifests to check, with the libraries the tools
// themselves use: a kustomization built with kustomize's krusty (as `kustomize build` and
// `kubectl -k` do) and a Helm chart rendered with the Helm SDK (as `helm template` does). Both run
// offline and fail closed: a remote base, a remote file, a chart dependency missing from charts/ or
// a values schema that refers to the network is an error, never a silent partial result.
package render

// Output is one rendered manifest stream, checked like a file named Name: its lines are those of
// Data.
type Output struct {
	// Name labels the stream in reports: "kustomize build DIR" for a kustomization, the template's
	// path in the chart (CHART/templates/FILE, as `helm template` prints in its "# Source:"
	// comments) for a Helm chart.
	Name string
	// Data is the YAML stream: what `kustomize build DIR` prints, or what Helm rendered from one
	// template file.
	Data []byte
}
