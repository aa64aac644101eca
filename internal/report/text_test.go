package report

import (
	"strings"
	"testing"
)

func TestTextColor(t *testing.T) {
	plain := string(render(t, "text", testReport(), Options{Verbose: true}))
	if strings.Contains(plain, "\x1b") {
		t.Errorf("text without Color contains an escape character:\n%s", plain)
	}
	colored := string(render(t, "text", testReport(), Options{Verbose: true, Color: true}))
	for _, code := range []string{ansiRed, ansiYellow, ansiMagenta, ansiDim, ansiReset} {
		if !strings.Contains(colored, code) {
			t.Errorf("text with Color lacks %q:\n%s", code, colored)
		}
	}
	if stripped := stripANSI(colored); stripped != plain {
		t.Errorf("text with Color differs from text without it beyond the escape codes:\n%s\nvs\n%s", stripped, plain)
	}
}

// stripANSI removes the SGR sequences the text reporter writes.
func stripANSI(s string) string {
	for _, code := range []string{ansiReset, ansiBold, ansiDim, ansiRed, ansiGreen, ansiYellow, ansiMagenta} {
		s = strings.ReplaceAll(s, code, "")
	}
	return s
}

// TestTextEscapesControlCharacters: names and messages come from the input,
// and must not be able to send escape sequences to the terminal.
func TestTextEscapesControlCharacters(t *testing.T) {
	r := &Report{Results: []Result{{
		File: "evil.yaml", Document: 1, Line: 1, Kind: "Pod", Name: "x\x1b[2Jy",
		Status:   StatusChecked,
		Findings: []Finding{{Rule: "r", Severity: SeverityDeny, Field: "spec", Message: "a\x1b]0;title\x07b"}},
	}}}
	out := string(render(t, "text", r, Options{}))
	if strings.ContainsAny(out, "\x1b\x07") {
		t.Errorf("control characters from the input reached the output: %q", out)
	}
	if !strings.Contains(out, `Pod x\x1b[2Jy`) {
		t.Errorf("escaped name missing from output: %q", out)
	}
}

func TestTextVerbose(t *testing.T) {
	quiet := string(render(t, "text", testReport(), Options{}))
	verbose := string(render(t, "text", testReport(), Options{Verbose: true}))
	for _, s := range []string{"skipped (ConfigMap is not a workload)", "DaemonSet monitoring/windows-exporter", "  ok\n"} {
		if strings.Contains(quiet, s) {
			t.Errorf("non-verbose text contains %q", s)
		}
		if !strings.Contains(verbose, s) {
			t.Errorf("verbose text lacks %q", s)
		}
	}
	for _, out := range []string{quiet, verbose} {
		if !strings.HasSuffix(out, "\n7 documents in 3 files: 4 checked, 1 skipped, 2 errors; 3 deny, 2 warn\n") {
			t.Errorf("text does not end with the summary line:\n%s", out)
		}
	}
}

func TestTextFindingLayout(t *testing.T) {
	out := string(render(t, "text", testReport(), Options{}))
	want := "examples/kube-proxy.yaml:1 DaemonSet kube-system/kube-proxy\n" +
		"  DENY host-network-required  spec.template.spec.hostNetwork (line 14)\n" +
		"      hostNetwork is false; HostProcess pods must set spec.template.spec.hostNetwork: true\n" +
		"  DENY run-as-least-privilege  spec.template.spec.containers[0].securityContext.windowsOptions.runAsUserName (line 27) [container: kube-proxy]\n"
	if !strings.HasPrefix(out, want) {
		t.Errorf("text starts with\n%s\nwant\n%s", out, want)
	}
	if !strings.Contains(out, "  ERROR spec.template.spec.containers: expected a list, got a mapping\n") {
		t.Errorf("text lacks the ERROR line:\n%s", out)
	}
	// A multi-line message keeps its indentation on every line.
	if !strings.Contains(out, "of the node's privileges,\n      use a least-privileged account") {
		t.Errorf("multi-line message not indented:\n%s", out)
	}
}

func TestTextEmptyReport(t *testing.T) {
	out := string(render(t, "text", &Report{Summary: Summary{Files: 1}}, Options{}))
	if want := "0 documents in 1 file: 0 checked, 0 skipped, 0 errors; 0 deny, 0 warn\n"; out != want {
		t.Errorf("empty report = %q, want %q", out, want)
	}
}
