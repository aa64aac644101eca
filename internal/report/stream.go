package report

import "io"

// Stream writes a report result by result, in input order, and keeps none of them: the formats
// whose results stand alone (text, json, tap, github) write each as it comes and the summary at
// the end, so memory does not grow with the input.
type Stream interface {
	// Result writes one document's result.
	Result(r Result) error
	// End writes what follows the results (the summary) and flushes.
	End(s Summary) error
}

// Streamer is a Reporter that can write a report as its results come.
type Streamer interface {
	Reporter
	// Stream starts a report of the profile on w.
	Stream(w io.Writer, profile string, opts Options) Stream
}

// Streaming returns the Streamer of a reporter, or nil when the format needs the whole report
// before it writes (SARIF and JUnit count and group their results first).
func Streaming(r Reporter) Streamer {
	s, _ := r.(Streamer)
	return s
}

// writeStream writes a whole report through a Stream: the Write of every streaming reporter, so
// that a report written at once and one written as it comes are the same bytes.
func writeStream(s Streamer, w io.Writer, r *Report, opts Options) error {
	st := s.Stream(w, r.Profile, opts)
	for _, res := range r.Results {
		if err := st.Result(res); err != nil {
			return err
		}
	}
	return st.End(r.Summary)
}
