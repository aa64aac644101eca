package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
)

func init() { register("json", jsonReporter{}) }

// jsonReporter writes the Report itself (the stable schema, version 1), indented by two spaces:
// version, profile, results and then the summary, so that results are written as they come. results
// and every findings are arrays, never null.
type jsonReporter struct{}

func (j jsonReporter) Write(w io.Writer, r *Report, opts Options) error {
	return writeStream(j, w, r, opts)
}

// Stream writes the report's opening, then each result as an element of results, then the
// summary.
func (jsonReporter) Stream(w io.Writer, profile string, _ Options) Stream {
	s := &jsonStream{b: bufio.NewWriter(w)}
	head := struct {
		Version int    `json:"version"`
		Profile string `json:"profile"`
	}{1, profile}
	b, err := s.marshal(head, "")
	if err != nil {
		s.err = err
		return s
	}
	// {"version": 1, "profile": "…"} without its closing brace, followed by the results.
	s.b.Write(bytes.TrimSuffix(bytes.TrimRight(b, "\n"), []byte("\n}")))
	s.b.WriteString(",\n  \"results\": [")
	return s
}

type jsonStream struct {
	b   *bufio.Writer
	n   int
	err error
	buf bytes.Buffer
}

// marshal encodes v indented by two spaces under prefix, without HTML escaping.
func (s *jsonStream) marshal(v any, prefix string) ([]byte, error) {
	s.buf.Reset()
	enc := json.NewEncoder(&s.buf)
	enc.SetIndent(prefix, "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(s.buf.Bytes(), "\n"), nil
}

func (s *jsonStream) Result(r Result) error {
	if s.err != nil {
		return s.err
	}
	if r.Findings == nil {
		r.Findings = []Finding{}
	}
	b, err := s.marshal(r, "    ")
	if err != nil {
		s.err = err
		return err
	}
	if s.n > 0 {
		s.b.WriteByte(',')
	}
	s.n++
	s.b.WriteString("\n    ")
	s.b.Write(b)
	return nil
}

func (s *jsonStream) End(sum Summary) error {
	if s.err != nil {
		return s.err
	}
	if s.n > 0 {
		s.b.WriteString("\n  ")
	}
	b, err := s.marshal(sum, "  ")
	if err != nil {
		return err
	}
	s.b.WriteString("],\n  \"summary\": ")
	s.b.Write(b)
	s.b.WriteString("\n}\n")
	return s.b.Flush()
}
