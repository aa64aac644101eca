package ruleset

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// ErrParams is wrapped by every invalid-parameter error.
var ErrParams = errors.New("invalid parameters")

// ValidateParams checks operator parameters (rule id -> parameter name -> value) against the
// ruleset: every rule and parameter must exist and every value must match its schema. Every engine
// validates its parameters with it, so they accept and refuse the same parameters with the same
// message.
func (r *Ruleset) ValidateParams(ps map[string]map[string]any) error {
	var errs []string
	for _, id := range sortedKeys(ps) {
		rule := r.Rules[id]
		if rule == nil {
			errs = append(errs, fmt.Sprintf("unknown rule %q (valid: %s)", id, strings.Join(r.RuleIDs(), ", ")))
			continue
		}
		for _, name := range sortedKeys(ps[id]) {
			var param *Parameter
			var names []string
			for i := range rule.Parameters {
				names = append(names, rule.Parameters[i].Name)
				if rule.Parameters[i].Name == name {
					param = &rule.Parameters[i]
				}
			}
			if param == nil {
				valid := "it has none"
				if len(names) > 0 {
					valid = "valid: " + strings.Join(names, ", ")
				}
				errs = append(errs, fmt.Sprintf("rule %s has no parameter %q (%s)", id, name, valid))
				continue
			}
			if err := ValidateValue(param.Schema, ps[id][name]); err != nil {
				errs = append(errs, fmt.Sprintf("%s.%s: value %s %v", id, name, compact(ps[id][name]), err))
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %s", ErrParams, strings.Join(errs, "; "))
	}
	return nil
}

// compact renders a value as compact JSON for messages.
func compact(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
