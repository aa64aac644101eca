package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// complete runs the shells' completion request (`hpguard __complete ARGS...`) and returns the
// candidates (without their descriptions) and the directive line.
func complete(t *testing.T, args ...string) ([]string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRootCmd(strings.NewReader(""), &out, &errOut)
	root.SetArgs(append([]string{"__complete"}, args...))
	require.NoError(t, root.Execute(), errOut.String())
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.NotEmpty(t, lines)
	var values []string
	for _, l := range lines[:len(lines)-1] {
		v, _, _ := strings.Cut(l, "\t")
		values = append(values, v)
	}
	return values, lines[len(lines)-1]
}

// Directives of cobra's completion protocol (the last line of __complete's output).
const (
	noFiles        = ":4"  // ShellCompDirectiveNoFileComp
	noFilesNoSpace = ":6"  // NoFileComp | NoSpace
	filterExt      = ":8"  // ShellCompDirectiveFilterFileExt
	filterDirs     = ":16" // ShellCompDirectiveFilterDirs
)

func TestCompletion(t *testing.T) {
	for _, tc := range []struct {
		args      []string
		want      []string
		directive string
	}{
		{[]string{"check", "--profile", ""}, []string{"baseline", "hostprocess", "strict"}, noFiles},
		{[]string{"audit", "--profile", ""}, []string{"baseline", "hostprocess", "strict"}, noFiles},
		{[]string{"check", "--engine", ""}, []string{"cel", "gatekeeper", "gatekeeper-combined", "kyverno", "opa"}, noFiles},
		{[]string{"report", "--engines", ""}, []string{"cel", "gatekeeper", "gatekeeper-combined", "kyverno", "opa"}, noFiles},
		{[]string{"check", "-o", ""}, []string{"github", "json", "junit", "sarif", "tap", "text"}, noFiles},
		{[]string{"rules", "-o", ""}, []string{"text", "json"}, noFiles},
		{[]string{"check", "--fail-on", ""}, []string{"deny", "warn"}, noFiles},
		{[]string{"check", "--params", ""}, []string{"yaml", "yml", "json"}, filterExt},
		{[]string{"check", "--spec", ""}, nil, filterDirs},
		{[]string{"check", "-k", ""}, nil, filterDirs},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			got, directive := complete(t, tc.args...)
			assert.ElementsMatch(t, tc.want, got)
			assert.Equal(t, tc.directive, directive)
		})
	}

	// --set completes rule-id.parameter= for every parameter of every rule, without a space after.
	keys, directive := complete(t, "check", "--set", "")
	assert.Equal(t, noFilesNoSpace, directive)
	assert.Contains(t, keys, "run-as-user-name-allowed.allowedServiceAccounts=")
	assert.Contains(t, keys, "hostprocess-disallowed.exemptNamespaces=")
	for _, k := range keys {
		assert.Regexp(t, `^[a-z-]+\.[A-Za-z]+=$`, k)
	}
	// rules completes rule ids, once.
	ids, _ := complete(t, "rules", "")
	assert.Contains(t, ids, "field-types")
	assert.Contains(t, ids, "windows-node-targeting")
	none, _ := complete(t, "rules", "field-types", "")
	assert.Empty(t, none)
}

// TestFlagPlaceholders: every flag that takes a value shows a placeholder that reads as a value in
// help (FILE, DIR, FORMAT, …), not a type name or words taken from its description.
func TestFlagPlaceholders(t *testing.T) {
	root := newRootCmd(strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})
	placeholders := flagPlaceholders(root)
	require.NotEmpty(t, placeholders)
	valid := regexp.MustCompile(`^[A-Z][A-Z.]*(=[A-Z]+)?$`)
	for flag, name := range placeholders {
		if name == "" { // a boolean flag
			continue
		}
		if strings.HasSuffix(flag, " --help") {
			continue
		}
		assert.Regexp(t, valid, name, "%s shows %q", flag, name)
	}
	assert.Equal(t, "FILE", placeholders["hpguard check --bundle"])
	assert.Equal(t, "DIR", placeholders["hpguard check --spec"])
	assert.Equal(t, "RULE.PARAMETER=VALUE", placeholders["hpguard check --set"])
}
