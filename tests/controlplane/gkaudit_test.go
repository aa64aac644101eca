package controlplane

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestAuditMessagesMatch: the comparison of Gatekeeper's audit messages accepts what Gatekeeper
// stores of hpguard's findings and nothing else.
func TestAuditMessagesMatch(t *testing.T) {
	long := strings.Repeat("a", 300)
	long2 := strings.Repeat("b", 200)
	cut := func(s string) string { return s[:253] + "..." }
	// A cut inside a two-byte character: JSON writes the lone byte as U+FFFD.
	utf := strings.Repeat("x", 252) + "ＳＹＳＴＥＭ"
	var eight []string
	for i := range 8 {
		eight = append(eight, fmt.Sprintf("finding %d of a rule", i))
	}
	for _, tc := range []struct {
		name     string
		got, exp []string
		want     bool
	}{
		{"one short message", []string{"m1"}, []string{"m1"}, true},
		{"one short message, different", []string{"m2"}, []string{"m1"}, false},
		{"Rego, one violation per finding", []string{"m2", "m1"}, []string{"m1", "m2"}, true},
		{"Rego, a finding missing", []string{"m1"}, []string{"m1", "m2"}, false},
		{"CEL, joined", []string{"m2; m1"}, []string{"m1", "m2"}, true},
		{"cut long message", []string{cut(long)}, []string{long}, true},
		{"cut long message, other text", []string{cut(long2 + long)}, []string{long}, false},
		{"CEL, joined and cut", []string{cut(long2 + "; " + long)}, []string{long, long2}, true},
		{"CEL, joined and cut, a message of another object", []string{cut(long2 + "; " + long)}, []string{long, "c"}, false},
		{"cut inside a character", []string{gatekeeperTruncate(utf)}, []string{utf}, true},
		{"uncut message that ends in dots", []string{long[:260] + "..."}, []string{long}, false},
		{"CEL, eight findings joined in another order", []string{strings.Join(eight[4:], "; ") + "; " + strings.Join(eight[:4], "; ")}, eight, true},
		{"CEL, eight findings, one of them not hpguard's", []string{strings.Join(append(slices.Clone(eight[1:]), "x"), "; ")}, eight, false},
		{"CEL, eight long findings joined and cut", []string{cut(strings.Join(slices.Concat(eight[2:], []string{long2}, eight[:2]), "; "))}, append(slices.Clone(eight), long2), true},
		{"CEL, cut after a message hpguard does not have", []string{cut("m1; " + long)}, []string{"m2", long}, false},
	} {
		assert.Equal(t, tc.want, auditMessagesMatch(tc.got, tc.exp), tc.name)
	}
	assert.Equal(t, 256, len(cut(long)))
	assert.Contains(t, gatekeeperTruncate(utf), "\uFFFD...")
}
