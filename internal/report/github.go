package report

import (
	"bufio"
	"io"
	"path/filepath"
	"strconv"
	"strings"
)

func init() { register("github", githubReporter{}) }

// githubReporter writes GitHub Actions workflow commands: an ::error
// annotation per finding that fails the run (deny; warn with --fail-on warn),
// a ::warning per other warn finding, an ::error per document that could not
// be evaluated, and a final ::notice with the summary (which counts the
// suppressed findings). Suppressed findings get no annotation: they are
// accepted, with their reason, in the workload's source.
type githubReporter struct{}

func (g githubReporter) Write(w io.Writer, r *Report, opts Options) error {
	return writeStream(g, w, r, opts)
}

// Stream writes each document's annotations as it comes and the summary notice at the end.
func (githubReporter) Stream(w io.Writer, _ string, opts Options) Stream {
	return &githubStream{b: bufio.NewWriter(w), failOn: opts.FailOn}
}

type githubStream struct {
	b      *bufio.Writer
	failOn string
}

func (g *githubStream) Result(res Result) error {
	switch res.Status {
	case StatusError:
		githubCommand(g.b, "error", res.File, res.Line, "input error", res.Error)
	case StatusChecked:
		for _, f := range res.Findings {
			if f.Suppressed() {
				continue
			}
			cmd := "warning"
			if fails(f, g.failOn) {
				cmd = "error"
			}
			msg := f.Message
			if f.Field != "" {
				msg += " (" + f.Field + ")"
			}
			githubCommand(g.b, cmd, res.File, f.EffectiveLine(res), f.Rule, msg)
		}
	}
	return nil
}

func (g *githubStream) End(s Summary) error {
	g.b.WriteString("::notice::" + githubData("hpguard: "+s.String()) + "\n")
	return g.b.Flush()
}

// githubCommand writes "::cmd file=F,line=L,title=T::message".
func githubCommand(b *bufio.Writer, cmd, file string, line int, title, msg string) {
	props := []string{"file=" + githubProperty(filepath.ToSlash(file))}
	if line > 0 {
		props = append(props, "line="+strconv.Itoa(line))
	}
	if title != "" {
		props = append(props, "title="+githubProperty(title))
	}
	b.WriteString("::" + cmd + " " + strings.Join(props, ",") + "::" + githubData(msg) + "\n")
}

// githubData escapes the message of a workflow command.
func githubData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

// githubProperty escapes a property value of a workflow command.
func githubProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}
