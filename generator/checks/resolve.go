package checks

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/hpguard/hpguard/generator/spec"
)

// Resolve decodes every rule's check arguments into its kind's typed arguments (Check.Typed) and
// checks its messages against the kind's. Problems are spec.Errors with file and line: an unknown
// kind, an unknown, missing or ill-typed argument, an argument the kind refuses, a missing or unknown
// message, a placeholder the message does not have.
func Resolve(s *spec.Spec) error {
	var es spec.Errors
	for _, r := range s.Rules {
		es = append(es, resolveRule(r)...)
	}
	if len(es) > 0 {
		return es
	}
	return nil
}

func resolveRule(r *spec.Rule) spec.Errors {
	line := r.Check.Line
	if line == 0 {
		line = r.Line
	}
	errAt := func(l int, format string, a ...any) *spec.Error {
		if l == 0 {
			l = line
		}
		return &spec.Error{File: r.File, Line: l, Msg: fmt.Sprintf("rule %q: ", r.ID) + fmt.Sprintf(format, a...)}
	}
	k := Lookup(r.Check.Kind)
	if k == nil {
		return spec.Errors{errAt(line, "unknown check kind %q (valid: %s)", r.Check.Kind, strings.Join(Names(), ", "))}
	}
	var es spec.Errors
	args := k.NewArgs()
	for _, e := range decodeArgs(&r.Check.Args, args) {
		es = append(es, errAt(e.line, "check %s: %s", k.Name, e.msg))
	}
	if len(es) == 0 {
		if v, ok := args.(Validator); ok {
			if err := v.Validate(r); err != nil {
				es = append(es, errAt(r.Check.Args.Line, "check %s: %v", k.Name, err))
			}
		}
	}
	for _, m := range k.Messages {
		text, ok := r.Check.Messages[m.ID]
		if !ok {
			es = append(es, errAt(line, "check %s needs message %q in check.messages (placeholders: %s)", k.Name, m.ID, m.names()))
			continue
		}
		if strings.TrimSpace(text) == "" {
			es = append(es, errAt(r.Check.MessageLines[m.ID], "message %q is empty", m.ID))
		}
		for _, seg := range parse(text) {
			if seg.placeholder && !m.has(seg.text) {
				es = append(es, errAt(r.Check.MessageLines[m.ID], "message %q uses {%s}, which check %s does not fill (placeholders: %s)", m.ID, seg.text, k.Name, m.names()))
			}
		}
	}
	for id := range r.Check.Messages {
		if k.message(id) == nil {
			var ids []string
			for _, m := range k.Messages {
				ids = append(ids, m.ID)
			}
			es = append(es, errAt(r.Check.MessageLines[id], "check %s has no message %q (its messages: %s)", k.Name, id, strings.Join(ids, ", ")))
		}
	}
	if len(es) == 0 {
		r.Check.Typed = args
	}
	return es
}

type argError struct {
	line int
	msg  string
}

// decodeArgs decodes a mapping node into the struct v points to: unknown keys and missing required
// fields (those whose yaml tag lacks omitempty) are errors at their line.
func decodeArgs(n *yaml.Node, v any) []argError {
	rv := reflect.ValueOf(v).Elem()
	rt := rv.Type()
	fields := map[string]bool{}
	var required []string
	for i := 0; i < rt.NumField(); i++ {
		tag := rt.Field(i).Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" || name == "-" {
			continue
		}
		fields[name] = true
		if !strings.Contains(opts, "omitempty") {
			required = append(required, name)
		}
	}
	present := map[string]bool{}
	var errs []argError
	switch {
	case n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.Tag == "!!null"):
	case n.Kind != yaml.MappingNode:
		return []argError{{n.Line, "args must be a mapping"}}
	default:
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i]
			if !fields[key.Value] {
				var known []string
				for f := range fields {
					known = append(known, f)
				}
				errs = append(errs, argError{key.Line, fmt.Sprintf("unknown argument %q (arguments: %s)", key.Value, strings.Join(sortedCopy(known), ", "))})
				continue
			}
			if n.Content[i+1].Tag == "!!null" {
				errs = append(errs, argError{key.Line, fmt.Sprintf("argument %q is null", key.Value)})
			}
			present[key.Value] = true
		}
	}
	for _, name := range required {
		if !present[name] {
			errs = append(errs, argError{n.Line, fmt.Sprintf("missing argument %q", name)})
		}
	}
	if len(errs) > 0 || n.Kind != yaml.MappingNode {
		return errs
	}
	if err := n.Decode(v); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			for _, m := range te.Errors {
				errs = append(errs, argError{n.Line, m})
			}
			return errs
		}
		return []argError{{n.Line, err.Error()}}
	}
	return nil
}

func sortedCopy(xs []string) []string {
	sort.Strings(xs)
	return xs
}
