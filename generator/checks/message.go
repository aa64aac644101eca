package checks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// segment is a piece of a message text: literal text, or the name of a placeholder.
type segment struct {
	text        string
	placeholder bool
}

var placeholderRE = regexp.MustCompile(`\{([A-Za-z][A-Za-z0-9]*)\}`)

// parse splits a message text into literal text and {name} placeholders.
func parse(text string) []segment {
	var out []segment
	last := 0
	for _, m := range placeholderRE.FindAllStringSubmatchIndex(text, -1) {
		if m[0] > last {
			out = append(out, segment{text: text[last:m[0]]})
		}
		out = append(out, segment{text: text[m[2]:m[3]], placeholder: true})
		last = m[1]
	}
	if last < len(text) {
		out = append(out, segment{text: text[last:]})
	}
	return out
}

// regoString renders s as a Rego string literal (JSON, without HTML escaping).
func regoString(s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSuffix(buf.String(), "\n")
}

// regoMessage renders a message text as a Rego expression: values maps each placeholder to a Rego
// expression of type string. A value that is a string literal is written into the text.
func regoMessage(text string, values map[string]string) (string, error) {
	var format strings.Builder
	var args []string
	for _, seg := range parse(text) {
		if !seg.placeholder {
			format.WriteString(strings.ReplaceAll(seg.text, "%", "%%"))
			continue
		}
		v, ok := values[seg.text]
		if !ok {
			return "", fmt.Errorf("message %q: no value for {%s}", text, seg.text)
		}
		var lit string
		if err := json.Unmarshal([]byte(v), &lit); err == nil && strings.HasPrefix(v, `"`) {
			format.WriteString(strings.ReplaceAll(lit, "%", "%%"))
			continue
		}
		format.WriteString("%s")
		args = append(args, v)
	}
	if len(args) == 0 {
		return regoString(strings.ReplaceAll(format.String(), "%%", "%")), nil
	}
	return fmt.Sprintf("sprintf(%s, [%s])", regoString(format.String()), strings.Join(args, ", ")), nil
}

// celMessage renders a message text as a CEL string expression: values maps each placeholder to a
// CEL expression of type string. A value that is a string literal is written into the text.
func celMessage(text string, values map[string]string) (string, error) {
	var parts []string
	var pending strings.Builder
	flush := func() {
		if pending.Len() > 0 {
			parts = append(parts, Lit(pending.String()))
			pending.Reset()
		}
	}
	for _, seg := range parse(text) {
		if !seg.placeholder {
			pending.WriteString(seg.text)
			continue
		}
		v, ok := values[seg.text]
		if !ok {
			return "", fmt.Errorf("message %q: no value for {%s}", text, seg.text)
		}
		if lit, err := strconv.Unquote(v); err == nil && strings.HasPrefix(v, `"`) {
			pending.WriteString(lit)
			continue
		}
		flush()
		parts = append(parts, v)
	}
	flush()
	if len(parts) == 0 {
		return `""`, nil
	}
	return strings.Join(parts, " + "), nil
}
