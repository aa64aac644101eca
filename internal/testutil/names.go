package testutil

// ASCIILower maps A-Z to a-z and leaves every other byte as it is: the fold of an allow-list
// match (CEL lowerAscii(), the Rego library's ascii_lower), as the reference the engines' folds are
// compared with.
func ASCIILower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
