package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

func init() { register("tap", tapReporter{}) }

// tapReporter writes TAP version 14: one test point per document. A document
// with an error, or a finding that fails the run (deny; warn with --fail-on
// warn), is "not ok"; a warn finding that does not fail the run leaves it "ok"
// with a "# warn: ..." diagnostic line; findings and errors follow as a YAML
// diagnostic block. Skipped documents, and documents whose findings are all
// suppressed, carry a SKIP directive with the reason.
type tapReporter struct{}

func (t tapReporter) Write(w io.Writer, r *Report, opts Options) error {
	return writeStream(t, w, r, opts)
}

// Stream writes the test points as they come and the plan ("1..N") after them, as TAP 14 allows,
// since the number of documents is known only at the end.
func (tapReporter) Stream(w io.Writer, _ string, opts Options) Stream {
	b := bufio.NewWriter(w)
	b.WriteString("TAP version 14\n")
	return &tapStream{b: b, failOn: opts.FailOn}
}

type tapStream struct {
	b      *bufio.Writer
	failOn string
	n      int
}

func (t *tapStream) Result(res Result) error {
	t.n++
	b, i := t.b, t.n
	desc := tapDescription(describe(res))
	switch res.Status {
	case StatusSkipped:
		fmt.Fprintf(b, "ok %d - %s # SKIP %s\n", i, desc, tapDescription(skipReason(res)))
	case StatusError:
		fmt.Fprintf(b, "not ok %d - %s\n", i, desc)
		b.WriteString("  ---\n")
		b.WriteString("  error: " + yamlScalar(res.Error) + "\n")
		b.WriteString("  ...\n")
	default:
		status, open, directive := "ok", 0, ""
		var reasons, warns []string
		for _, f := range res.Findings {
			switch {
			case fails(f, t.failOn):
				status = "not ok"
				open++
			case f.Suppressed():
				reasons = append(reasons, f.Rule+": "+suppressionText(f))
			default:
				open++
				warns = append(warns, f.Rule+": "+f.Message)
			}
		}
		if open == 0 && len(reasons) > 0 {
			directive = " # SKIP suppressed: " + tapDescription(strings.Join(reasons, "; "))
		}
		fmt.Fprintf(b, "%s %d - %s%s\n", status, i, desc, directive)
		if len(res.Findings) > 0 {
			tapFindings(b, res)
		}
		for _, w := range warns {
			b.WriteString("# warn: " + strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(w) + "\n")
		}
	}
	return nil
}

func (t *tapStream) End(s Summary) error {
	fmt.Fprintf(t.b, "1..%d\n", t.n)
	t.b.WriteString("# " + tapDescription(s.String()) + "\n")
	return t.b.Flush()
}

// tapFindings writes the YAML diagnostic block listing a document's findings.
func tapFindings(b *bufio.Writer, r Result) {
	b.WriteString("  ---\n  findings:\n")
	for _, f := range r.Findings {
		b.WriteString("    - rule: " + yamlScalar(f.Rule) + "\n")
		b.WriteString("      severity: " + yamlScalar(f.Severity) + "\n")
		b.WriteString("      field: " + yamlScalar(f.Field) + "\n")
		if line := f.EffectiveLine(r); line > 0 {
			b.WriteString("      line: " + strconv.Itoa(line) + "\n")
		}
		if f.Container != "" {
			b.WriteString("      container: " + yamlScalar(f.Container) + "\n")
		}
		b.WriteString("      message: " + yamlScalar(f.Message) + "\n")
		if f.Suppressed() && f.Suppression != nil {
			b.WriteString("      status: suppressed\n")
			b.WriteString("      reason: " + yamlScalar(f.Suppression.Reason) + "\n")
			b.WriteString("      annotation: " + yamlScalar(f.Suppression.Annotation) + "\n")
		}
	}
	b.WriteString("  ...\n")
}

// tapDescription makes s fit on a test point line: line breaks become spaces
// and "#" and "\" are escaped, as TAP 14 requires.
func tapDescription(s string) string {
	s = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
	return strings.NewReplacer(`\`, `\\`, "#", `\#`).Replace(s)
}

// yamlPlain matches strings that are safe as plain YAML scalars.
var yamlPlain = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_./-]*$`)

// yamlScalar renders s as a YAML scalar: plain when that is unambiguous,
// double-quoted otherwise (a JSON string is a valid YAML double-quoted scalar).
func yamlScalar(s string) string {
	if yamlPlain.MatchString(s) {
		switch strings.ToLower(s) {
		case "true", "false", "yes", "no", "on", "off", "y", "n", "null":
		default:
			return s
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // encoding a string cannot fail
	return strings.TrimSuffix(buf.String(), "\n")
}
