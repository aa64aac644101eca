package report

import (
	"strings"
	"testing"
)

func TestGitHubEscaping(t *testing.T) {
	if got, want := githubData("100%,\r\na:b"), "100%25,%0D%0Aa:b"; got != want {
		t.Errorf("githubData = %q, want %q", got, want)
	}
	if got, want := githubProperty("100%,\r\na:b"), "100%25%2C%0D%0Aa%3Ab"; got != want {
		t.Errorf("githubProperty = %q, want %q", got, want)
	}
}

func TestGitHubCommands(t *testing.T) {
	out := string(render(t, "github", testReport(), Options{}))
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 3+2+2+1 { // 3 deny, 2 warn, 2 errors, the notice
		t.Fatalf("got %d lines, want 8:\n%s", len(lines), out)
	}
	count := map[string]int{}
	for _, l := range lines {
		cmd, _, ok := strings.Cut(strings.TrimPrefix(l, "::"), "::")
		if !strings.HasPrefix(l, "::") || !ok {
			t.Fatalf("not a workflow command: %q", l)
		}
		count[strings.Fields(cmd)[0]]++
	}
	if count["error"] != 5 || count["warning"] != 2 || count["notice"] != 1 {
		t.Errorf("commands = %v, want 5 error, 2 warning, 1 notice", count)
	}
	if want := "::error file=examples/kube-proxy.yaml,line=14,title=host-network-required::" +
		"hostNetwork is false; HostProcess pods must set spec.template.spec.hostNetwork: true (spec.template.spec.hostNetwork)"; lines[0] != want {
		t.Errorf("first command = %q\nwant %q", lines[0], want)
	}
	if want := "::error file=manifests/team a%2Cb/agent.yaml,line=19,title=input error::spec.template.spec.containers: expected a list, got a mapping"; lines[5] != want {
		t.Errorf("error command = %q\nwant %q", lines[5], want)
	}
	if want := "::notice::hpguard: 7 documents in 3 files: 4 checked, 1 skipped, 2 errors; 3 deny, 2 warn"; lines[7] != want {
		t.Errorf("notice = %q, want %q", lines[7], want)
	}
}
