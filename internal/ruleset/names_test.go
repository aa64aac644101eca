package ruleset

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hpguard/hpguard/internal/testutil"
)

func TestDenyPattern(t *testing.T) {
	nc := NameComparison{Fullwidth: true, Lookalikes: []Lookalike{{Char: "\u212a", As: "k"}, {Char: "\u017f", As: "s"}, {Char: "\u0130", As: "i"}, {Char: "\u0131", As: "i"}}}
	require.NoError(t, nc.Validate())
	names := regexp.MustCompile(nc.DenyPattern([]string{`NT AUTHORITY\SYSTEM`, "Backup Operators"}, false, false))
	pipes := regexp.MustCompile(nc.DenyPattern([]string{`\\.\pipe\`}, true, true))
	for _, tt := range []struct {
		re   *regexp.Regexp
		in   string
		want bool
	}{
		{names, `NT AUTHORITY\SYSTEM`, true},
		{names, `nt authority\system`, true},
		{names, "NT AUTHORITY\\\u017fYSTEM", true},
		{names, "NT AUTHOR\u0130TY\\SYSTEM", true},
		{names, "NT AUTHORITY\uff3c\uff33\uff39\uff33\uff34\uff25\uff2d", true},
		{names, "Bac\u212aup\u3000Operators", true},
		{names, `NT AUTHORITY\SYSTEMS`, false},
		{names, ` NT AUTHORITY\SYSTEM`, false},
		{names, `NT AUTHORITY/SYSTEM`, false},
		{names, "NT AUTHORITY\\SY\u0053\u0301TEM", false},
		{pipes, `\\.\pipe\x`, true},
		{pipes, `//./PIPE/x`, true},
		{pipes, "\\\\.\\p\u0131pe\\x", true},
		{pipes, "\uff3c\uff3c\uff0e\uff3c\uff50ipe\uff3cx", true},
		{pipes, `\\.\pipex`, false},
		{pipes, `C:\pipe\x`, false},
		{pipes, `\\x\pipe\y`, false},
	} {
		require.Equal(t, tt.want, tt.re.MatchString(tt.in), "%q on %q", tt.re, tt.in)
	}
}

func TestASCIIUpperToLower(t *testing.T) {
	table := ASCIIUpperToLower()
	require.Len(t, table, 26)
	in := "NT AUTHORITY\\Networ\u212aService \u0130\u00c9"
	var b strings.Builder
	for _, r := range in {
		if lower, ok := table[string(r)]; ok {
			b.WriteString(lower)
		} else {
			b.WriteRune(r)
		}
	}
	require.Equal(t, "nt authority\\networ\u212aservice \u0130\u00c9", b.String())
	require.Equal(t, testutil.ASCIILower(in), b.String())
}

func TestValidateLookalike(t *testing.T) {
	require.Error(t, (&NameComparison{Lookalikes: []Lookalike{{Char: "k", As: "k"}}}).Validate())
	require.Error(t, (&NameComparison{Lookalikes: []Lookalike{{Char: "\u212a", As: "K"}}}).Validate())
	require.Error(t, (&NameComparison{Lookalikes: []Lookalike{{Char: "\u212a\u212a", As: "k"}}}).Validate())
}
