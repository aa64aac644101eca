package report

import (
	"encoding/json"
	"io"
)

func init() { register("json", jsonReporter{}) }

// jsonReporter writes the Report itself (the stable schema, version 1),
// indented by two spaces. results and every findings are arrays, never null.
type jsonReporter struct{}

func (jsonReporter) Write(w io.Writer, r *Report, _ Options) error {
	out := *r
	out.Results = make([]Result, len(r.Results))
	for i, res := range r.Results {
		if res.Findings == nil {
			res.Findings = []Finding{}
		}
		out.Results[i] = res
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(&out) // Encode ends the document with a newline
}
