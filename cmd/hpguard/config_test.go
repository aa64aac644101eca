package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hpguard/hpguard/internal/report"
)

// TestCheckConfig: .hpguard.yaml is found from the working directory up to the repository root,
// sets the defaults of the flags, and a flag wins over it; -v says which file was used.
func TestCheckConfig(t *testing.T) {
	pod, err := os.ReadFile("testdata/check/workloads.yaml")
	require.NoError(t, err)
	repo := t.TempDir()
	write := func(name, content string) {
		p := filepath.Join(repo, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o700))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	}
	require.NoError(t, os.Mkdir(filepath.Join(repo, ".git"), 0o700))
	write("deploy/w.yaml", string(pod))
	write("deploy/legacy/old.yaml", "a: [unclosed\n")
	write(".hpguard.yaml", "# repository defaults\noutput: json\nfail-on: warn\nprofile: strict\nignore: ['deploy/legacy/**']\n"+
		"parameters:\n  run-as-user-name-allowed: {allowedLocalGroups: [hpc-logreaders]}\n")
	t.Chdir(filepath.Join(repo, "deploy"))

	out, errOut, code := run(t, "", "check", "-v", "-q", ".")
	require.Equal(t, 1, code, errOut)
	require.Contains(t, errOut, "hpguard: configuration from "+filepath.Join(repo, ".hpguard.yaml"))
	require.Contains(t, errOut, `hpguard: ignored legacy (matches "deploy/legacy/**")`)
	var rep report.Report
	require.NoError(t, json.Unmarshal([]byte(out), &rep), "output: json from the file")
	require.Equal(t, "strict", rep.Profile)
	require.Zero(t, rep.Summary.Errors, "legacy/ is ignored")

	t.Run("flags win", func(t *testing.T) {
		out, _, code := run(t, "", "check", "-o", "text", "--profile", "hostprocess", "--color", "never", ".")
		require.Equal(t, 1, code)
		require.Contains(t, out, "documents in")
	})
	t.Run("--ignore from the command line, relative to the argument", func(t *testing.T) {
		out, _, code := run(t, "", "check", "--ignore", "w.yaml", "--allow-empty", "-o", "text", ".")
		require.Equal(t, 0, code, out)
		require.Contains(t, out, "0 documents in 0 files")
	})
	t.Run("--config", func(t *testing.T) {
		other := filepath.Join(repo, "other.yaml")
		require.NoError(t, os.WriteFile(other, []byte("output: tap\n"), 0o600))
		out, errOut, _ := run(t, "", "check", "-v", "--config", other, ".")
		require.True(t, strings.HasPrefix(out, "TAP version 14"), out)
		require.Contains(t, errOut, "configuration from "+other)
	})
	t.Run("the search stops at the repository root", func(t *testing.T) {
		inner := filepath.Join(repo, "sub")
		require.NoError(t, os.MkdirAll(filepath.Join(inner, ".git"), 0o700))
		t.Chdir(inner)
		_, errOut, _ := run(t, "", "check", "-v", "--allow-empty", ".")
		require.Contains(t, errOut, "hpguard: no configuration file (.hpguard.yaml not found")
	})
}

// TestCheckConfigInvalid: unknown keys, wrong types and invalid values are usage errors with the
// file and line.
func TestCheckConfigInvalid(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct{ content, want string }{
		{"output: json\nfailOn: warn\n", "bad.yaml:2: field failOn not found in type main.checkConfig"},
		{"workers: many\n", "bad.yaml:1: cannot unmarshal !!str `many` into int"},
		{"parameters: [a]\n", "bad.yaml:1: cannot unmarshal !!seq into map[string]map[string]interface {}"},
		{"\n\nfail-on: error\n", `bad.yaml:3: fail-on: "error": want deny or warn`},
		{"output: xml\n", `bad.yaml:1: output: unknown output format "xml"`},
		{"ignore: ['[a']\n", `bad.yaml:1: ignore: ignore pattern "[a" is not a valid glob`},
		{"profile: [a\n", "bad.yaml: line 1: did not find expected"},
	} {
		p := filepath.Join(dir, "bad.yaml")
		require.NoError(t, os.WriteFile(p, []byte(tt.content), 0o600))
		_, errOut, code := run(t, "", "check", "--config", p, "testdata/check/pod.json")
		require.Equal(t, 2, code)
		require.Contains(t, strings.ReplaceAll(errOut, dir+string(filepath.Separator), ""), tt.want)
	}
	_, errOut, code := run(t, "", "check", "--ignore", "[x", "testdata/check/pod.json")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, `--ignore: ignore pattern "[x" is not a valid glob`)
}
