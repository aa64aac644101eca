package report

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

type tapPoint struct {
	ok    bool
	num   int
	desc  string
	yaml  []string
	hasYA bool
}

var tapPointLine = regexp.MustCompile(`^(not ok|ok) (\d+) - (.*)$`)

// parseTAP splits TAP output into its plan and test points, failing on any
// line it does not understand. The plan follows the test points (the report is written as its
// results come), and is the line before the summary comment.
func parseTAP(t *testing.T, out string) (plan int, points []tapPoint) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) < 3 || lines[0] != "TAP version 14" {
		t.Fatalf("no TAP 14 header: %q", out)
	}
	last := lines[len(lines)-2]
	if !strings.HasPrefix(last, "1..") || !strings.HasPrefix(lines[len(lines)-1], "# ") {
		t.Fatalf("no plan before the summary at the end: %q", last)
	}
	plan, err := strconv.Atoi(strings.TrimPrefix(last, "1.."))
	if err != nil {
		t.Fatalf("bad plan %q", last)
	}
	for i := 1; i < len(lines)-2; i++ {
		line := lines[i]
		switch {
		case tapPointLine.MatchString(line):
			m := tapPointLine.FindStringSubmatch(line)
			n, _ := strconv.Atoi(m[2])
			points = append(points, tapPoint{ok: m[1] == "ok", num: n, desc: m[3]})
		case line == "  ---" && len(points) > 0:
			p := &points[len(points)-1]
			p.hasYA = true
			for i++; i < len(lines) && lines[i] != "  ..."; i++ {
				if !strings.HasPrefix(lines[i], "  ") {
					t.Fatalf("YAML block line not indented: %q", lines[i])
				}
				p.yaml = append(p.yaml, strings.TrimPrefix(lines[i], "  "))
			}
			if i == len(lines) {
				t.Fatal("unterminated YAML block")
			}
		case strings.HasPrefix(line, "# "):
		default:
			t.Fatalf("unexpected TAP line %q", line)
		}
	}
	return plan, points
}

func TestTAPStructure(t *testing.T) {
	plan, points := parseTAP(t, string(render(t, "tap", testReport(), Options{})))
	if plan != 7 || len(points) != 7 {
		t.Fatalf("plan %d with %d test points, want 7", plan, len(points))
	}
	wantOK := []bool{false, true, true, true, false, false, false}
	for i, p := range points {
		if p.num != i+1 {
			t.Errorf("test point %d numbered %d", i+1, p.num)
		}
		if p.ok != wantOK[i] {
			t.Errorf("test point %d (%s) ok = %v, want %v", p.num, p.desc, p.ok, wantOK[i])
		}
	}
	if d := points[1].desc; !strings.HasSuffix(d, " # SKIP ConfigMap is not a workload") {
		t.Errorf("skipped document: %q", d)
	}
	if !points[3].hasYA {
		t.Error("warn-only document has no diagnostics")
	}
	if points[2].hasYA {
		t.Error("document without findings has diagnostics")
	}
}

// TestTAPDiagnosticsAreYAML parses every diagnostic block and checks that
// messages survive the quoting.
func TestTAPDiagnosticsAreYAML(t *testing.T) {
	in := testReport()
	_, points := parseTAP(t, string(render(t, "tap", in, Options{})))
	for i, p := range points {
		res := in.Results[i]
		if !p.hasYA {
			continue
		}
		var diag struct {
			Error    string
			Findings []struct {
				Rule, Severity, Field, Container, Message string
				Line                                      int
			}
		}
		if err := yaml.Unmarshal([]byte(strings.Join(p.yaml, "\n")), &diag); err != nil {
			t.Fatalf("test point %d: diagnostics are not YAML: %v\n%s", p.num, err, strings.Join(p.yaml, "\n"))
		}
		if diag.Error != res.Error {
			t.Errorf("test point %d: error = %q, want %q", p.num, diag.Error, res.Error)
		}
		if len(diag.Findings) != len(res.Findings) {
			t.Fatalf("test point %d: %d findings, want %d", p.num, len(diag.Findings), len(res.Findings))
		}
		for j, f := range res.Findings {
			d := diag.Findings[j]
			if d.Rule != f.Rule || d.Severity != f.Severity || d.Field != f.Field ||
				d.Container != f.Container || d.Message != f.Message || d.Line != f.EffectiveLine(res) {
				t.Errorf("test point %d finding %d = %+v, want %+v", p.num, j, d, f)
			}
		}
	}
}

func TestTAPDescriptionEscaping(t *testing.T) {
	if got, want := tapDescription("a#b\\c\nd"), `a\#b\\c d`; got != want {
		t.Errorf("tapDescription = %q, want %q", got, want)
	}
	for _, s := range []string{"true", "No", "null", "42", "a: b", "- x", "", "#x", "é"} {
		var back string
		if err := yaml.Unmarshal([]byte("v: "+yamlScalar(s)), &struct{ V *string }{&back}); err != nil || back != s {
			t.Errorf("yamlScalar(%q) = %s reads back as %q (%v)", s, yamlScalar(s), back, err)
		}
	}
}
