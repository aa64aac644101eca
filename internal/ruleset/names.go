package ruleset

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"
)

// NameComparison is the one definition of how every engine compares names that Windows compares
// without regard to case (account and group names, object-manager paths such as \\.\pipe\). The
// generator builds the Rego and CEL forms from it, and Go code calls its methods, so that every
// engine computes the same answer.
//
// Two comparisons, both failing closed:
//   - an allow-list match (a name that may be used) folds ASCII letters only (A-Z to a-z): it accepts
//     only names that Windows certainly treats as the listed one; a name with any other difference,
//     a look-alike such as U+212A KELVIN SIGN included, is not on the list;
//   - a deny-list match (a name that must be caught) treats every character that some case mapping
//     or width form turns into an ASCII character as that character (Lookalikes, and the fullwidth
//     forms when Fullwidth is set), and ASCII letters in either case: it catches every name that
//     Windows might treat as the listed one. It is a regular expression of explicit character
//     classes (no case-insensitive flag), which RE2 evaluates the same in Go, Rego and CEL.
type NameComparison struct {
	// Description states the semantics for the rule docs.
	Description string `json:"description"`
	// Lookalikes are the non-ASCII characters that a deny-list match reads as an ASCII character.
	Lookalikes []Lookalike `json:"lookalikes"`
	// Fullwidth makes a deny-list match read U+FF01-U+FF5E as U+0021-U+007E and U+3000 as a space.
	Fullwidth bool `json:"fullwidth"`
}

// Lookalike is a character that a deny-list match reads as an ASCII one.
type Lookalike struct {
	// Char is the character, e.g. "\u212a".
	Char string `json:"char"`
	// As is the lower-case ASCII character it is read as, e.g. "k".
	As string `json:"as"`
	// Why names the case mapping that makes it a look-alike.
	Why string `json:"why"`
}

// Validate checks that every look-alike is one non-ASCII character read as one ASCII character.
func (n *NameComparison) Validate() error {
	for _, l := range n.Lookalikes {
		r, size := utf8.DecodeRuneInString(l.Char)
		if size != len(l.Char) || r < utf8.RuneSelf {
			return fmt.Errorf("lookalike %q: char must be one non-ASCII character", l.Char)
		}
		if len(l.As) != 1 || l.As[0] < 0x20 || l.As[0] > 0x7e || strings.ToLower(l.As) != l.As {
			return fmt.Errorf("lookalike %q: as must be one printable ASCII character, in lower case", l.Char)
		}
	}
	return nil
}

// ASCIIUpperToLower maps A-Z to a-z: the fold of an allow-list match (CEL lowerAscii(), the Rego
// library's ascii_lower) as a replacement table, for engines that fold with a table.
func ASCIIUpperToLower() map[string]string {
	m := make(map[string]string, 26)
	for c := 'A'; c <= 'Z'; c++ {
		m[string(c)] = string(c + 'a' - 'A')
	}
	return m
}

// Class returns the characters that a deny-list match reads as the ASCII character c, sorted:
// c, its other case, their fullwidth forms and the look-alikes of either; with paths set, '\' and
// '/' are one character (Windows reads both as a path separator).
func (n *NameComparison) Class(c byte, paths bool) []rune {
	seen := map[rune]bool{}
	var base []byte
	switch {
	case paths && (c == '\\' || c == '/'):
		base = []byte{'\\', '/'}
	case 'a' <= c && c <= 'z':
		base = []byte{c, c - 'a' + 'A'}
	case 'A' <= c && c <= 'Z':
		base = []byte{c + 'a' - 'A', c}
	default:
		base = []byte{c}
	}
	for _, b := range base {
		seen[rune(b)] = true
		if n.Fullwidth {
			switch {
			case b == ' ':
				seen[0x3000] = true
			case 0x21 <= b && b <= 0x7e:
				seen[rune(b)-0x21+0xff01] = true
			}
		}
		for _, l := range n.Lookalikes {
			if l.As == strings.ToLower(string(b)) {
				r, _ := utf8.DecodeRuneInString(l.Char)
				seen[r] = true
			}
		}
	}
	out := make([]rune, 0, len(seen))
	for r := range seen {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// DenyPattern is the RE2 pattern of a deny-list match of names: it matches a whole string that
// reads as one of names (prefix false), or a string that starts with one (prefix true). Names are
// ASCII; paths makes '\' and '/' one character. The pattern itself is ASCII (other characters are
// written as \x{...}) and uses no flags.
func (n *NameComparison) DenyPattern(names []string, prefix, paths bool) string {
	alts := make([]string, 0, len(names))
	for _, name := range names {
		var b strings.Builder
		for i := 0; i < len(name); i++ {
			b.WriteString(classPattern(n.Class(name[i], paths)))
		}
		alts = append(alts, b.String())
	}
	p := "^(?:" + strings.Join(alts, "|") + ")"
	if !prefix {
		p += "$"
	}
	return p
}

// classPattern writes a character class (or the lone character) for RE2.
func classPattern(rs []rune) string {
	var b strings.Builder
	for _, r := range rs {
		switch {
		case r >= utf8.RuneSelf:
			fmt.Fprintf(&b, `\x{%x}`, r)
		case strings.ContainsRune(`\^-[]`, r):
			b.WriteString(`\` + string(r))
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x{%x}`, r)
		default:
			b.WriteRune(r)
		}
	}
	if len(rs) == 1 {
		if s := b.String(); len(s) == 1 && !strings.ContainsAny(s, `.?*+()|{}$`) {
			return s
		}
	}
	return "[" + b.String() + "]"
}
