package report

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
)

func init() { register("text", textReporter{}) }

// textReporter renders a human-readable report grouped by file:
//
//	examples/kube-proxy.yaml:1 DaemonSet kube-system/kube-proxy
//	  DENY host-network-required  spec.template.spec.hostNetwork (line 14)
//	      hostNetwork must be true for HostProcess pods.
//
//	7 documents in 3 files: 4 checked, 1 skipped, 2 errors; 3 deny, 2 warn
type textReporter struct{}

// ANSI SGR sequences used when Options.Color is set.
const (
	ansiReset   = "\x1b[0m"
	ansiBold    = "\x1b[1m"
	ansiDim     = "\x1b[2m"
	ansiRed     = "\x1b[31m"
	ansiGreen   = "\x1b[32m"
	ansiYellow  = "\x1b[33m"
	ansiMagenta = "\x1b[35m"
)

// messageIndent indents the message lines under a finding or error.
const messageIndent = "      "

type textWriter struct {
	*bufio.Writer
	color bool
}

// paint wraps s in the SGR sequence code when colour is on.
func (t textWriter) paint(code, s string) string {
	if !t.color || code == "" || s == "" {
		return s
	}
	return code + s + ansiReset
}

func (t textReporter) Write(w io.Writer, r *Report, opts Options) error {
	return writeStream(t, w, r, opts)
}

// Stream writes the documents of each file as they come, a blank line between files.
func (textReporter) Stream(w io.Writer, _ string, opts Options) Stream {
	return &textStream{textWriter: textWriter{Writer: bufio.NewWriter(w), color: opts.Color}, verbose: opts.Verbose}
}

type textStream struct {
	textWriter
	verbose bool
	printed bool   // a document has been written
	file    string // the file of the last document written
}

func (t *textStream) Result(res Result) error {
	if !listed(res, t.verbose) {
		return nil
	}
	if t.printed && res.File != t.file {
		t.WriteString("\n") // a blank line between files
	}
	t.printed, t.file = true, res.File
	t.document(res)
	return nil
}

func (t *textStream) End(s Summary) error {
	if t.printed {
		t.WriteString("\n")
	}
	t.WriteString(t.summary(s) + "\n")
	return t.Flush()
}

// listed reports whether the text report shows the document: always when it
// has findings or an error, otherwise only in verbose mode.
func listed(r Result, verbose bool) bool {
	switch r.Status {
	case StatusError:
		return true
	case StatusChecked:
		return len(r.Findings) > 0 || verbose
	default:
		return verbose
	}
}

func (t textWriter) document(r Result) {
	label := clean(r.Label())
	if label == "" {
		label = fmt.Sprintf("(document %d)", r.Document)
	}
	fmt.Fprintf(t, "%s %s\n", t.paint(ansiDim, clean(r.Position())), t.paint(ansiBold, label))
	switch r.Status {
	case StatusError:
		t.WriteString("  " + t.paint(ansiMagenta, "ERROR") + " ")
		t.message(r.Error, "  ERROR ")
	case StatusSkipped:
		fmt.Fprintf(t, "  %s\n", t.paint(ansiDim, "skipped ("+clean(skipReason(r))+")"))
	default:
		if len(r.Findings) == 0 {
			fmt.Fprintf(t, "  %s\n", t.paint(ansiGreen, "ok"))
		}
		for _, f := range r.Findings {
			t.finding(f)
		}
	}
}

func (t textWriter) finding(f Finding) {
	sev, code := strings.ToUpper(f.Severity), ""
	switch {
	case f.Suppressed():
		sev, code = "SUPPRESSED "+f.Severity, ansiDim
	case f.Severity == SeverityDeny:
		code = ansiRed
	case f.Severity == SeverityWarn:
		code = ansiYellow
	}
	where := clean(f.Field)
	if f.Line > 0 {
		where += " (line " + strconv.Itoa(f.Line) + ")"
	}
	fmt.Fprintf(t, "  %s %s  %s", t.paint(code, clean(sev)), clean(f.Rule), t.paint(ansiDim, where))
	if f.Container != "" {
		fmt.Fprintf(t, " [container: %s]", clean(f.Container))
	}
	t.WriteString("\n" + messageIndent)
	t.message(f.Message, messageIndent)
	if f.Suppressed() {
		t.WriteString(messageIndent + "reason: ")
		t.message(suppressionText(f), messageIndent+"reason: ")
	}
}

// message writes a possibly multi-line message whose first line has already
// been prefixed; continuation lines are indented to line up under it.
func (t textWriter) message(msg, prefix string) {
	indent := strings.Repeat(" ", len(prefix))
	lines := strings.Split(strings.TrimRight(msg, "\n"), "\n")
	for i, line := range lines {
		if i > 0 {
			t.WriteString(indent)
		}
		t.WriteString(clean(strings.TrimSuffix(line, "\r")) + "\n")
	}
}

func (t textWriter) summary(s Summary) string {
	return s.format(func(severity, text string) string {
		if severity == SeverityDeny && s.Deny > 0 {
			return t.paint(ansiRed, text)
		}
		if severity == SeverityWarn && s.Warn > 0 {
			return t.paint(ansiYellow, text)
		}
		return text
	})
}

// clean makes text taken from the input safe for a terminal: control
// characters (escape sequences above all) are shown quoted, e.g. "\x1b".
func clean(s string) string {
	if strings.IndexFunc(s, unicode.IsControl) < 0 {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
