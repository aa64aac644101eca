// Package checks holds the kinds of check a rule can use and their registry. A kind is one unit: a
// typed argument struct (decoded and validated when the spec is resolved), the messages it produces
// (their text comes from each rule's spec, with placeholders the kind fills in), a Rego template and
// a CEL form. Each kind lives in its own package under generator/checks/<kind>/ and registers itself;
// generator/checks/all imports them all.
package checks

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"

	"github.com/hpguard/hpguard/generator/spec"
)

// Kind is one kind of check.
type Kind struct {
	// Name is the kind's id, written as check.kind in a rule.
	Name string
	// Doc says what the kind checks, for the rule docs.
	Doc string
	// NewArgs returns a pointer to a new argument struct. Its fields are decoded from check.args by
	// their yaml tags: a field is required unless its tag says omitempty, and an argument without a
	// field is an error. When the struct has a method Validate(*spec.Rule) error, it is called next.
	NewArgs func() any
	// Messages are the messages the kind produces; a rule writes the text of each in check.messages.
	Messages []Message
	// Rego is the kind's Rego template (text/template with the functions of RegoFuncs). It is
	// executed with RegoData and renders the rule's findings.
	Rego string
	// CEL returns the kind's finding groups (see CELBuilder). Args is the rule's decoded arguments.
	CEL func(b *CELBuilder, args any) ([]string, error)
}

// Message is one message of a kind.
type Message struct {
	// ID is the key of the message in check.messages.
	ID string
	// Placeholders are the names the text may use as {name}, each with what it stands for.
	Placeholders []Placeholder
}

// Placeholder is a value a kind fills into a message.
type Placeholder struct {
	Name string
	Doc  string
}

// Validator is implemented by argument structs that check more than presence and types.
type Validator interface {
	Validate(r *spec.Rule) error
}

var (
	mu    sync.RWMutex
	kinds = map[string]*Kind{}
)

// Register adds a kind to the registry; it panics on a duplicate or incomplete kind (a programming
// error, found by any test).
func Register(k *Kind) {
	mu.Lock()
	defer mu.Unlock()
	if k.Name == "" || k.NewArgs == nil || k.Rego == "" || k.CEL == nil {
		panic(fmt.Sprintf("checks: kind %q is incomplete", k.Name))
	}
	if _, dup := kinds[k.Name]; dup {
		panic(fmt.Sprintf("checks: kind %q registered twice", k.Name))
	}
	kinds[k.Name] = k
}

// Lookup returns the named kind, or nil.
func Lookup(name string) *Kind {
	mu.RLock()
	defer mu.RUnlock()
	return kinds[name]
}

// Names lists the registered kinds, sorted.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]string, 0, len(kinds))
	for n := range kinds {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// message returns the kind's message with the given id, or nil.
func (k *Kind) message(id string) *Message {
	for i := range k.Messages {
		if k.Messages[i].ID == id {
			return &k.Messages[i]
		}
	}
	return nil
}

func (m *Message) has(name string) bool {
	for _, p := range m.Placeholders {
		if p.Name == name {
			return true
		}
	}
	return false
}

func (m *Message) names() string {
	var out []string
	for _, p := range m.Placeholders {
		out = append(out, "{"+p.Name+"}")
	}
	return strings.Join(out, ", ")
}

// Argument is one argument of a kind, for the docs.
type Argument struct {
	Name     string
	Type     string
	Required bool
}

// Arguments lists the kind's arguments, in the order of its argument struct.
func (k *Kind) Arguments() []Argument {
	rt := reflect.TypeOf(k.NewArgs()).Elem()
	var out []Argument
	for i := 0; i < rt.NumField(); i++ {
		name, opts, _ := strings.Cut(rt.Field(i).Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		out = append(out, Argument{Name: name, Type: typeName(rt.Field(i).Type), Required: !strings.Contains(opts, "omitempty")})
	}
	return out
}

func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Slice:
		return "list of " + typeName(t.Elem())
	case reflect.Interface:
		return "any value"
	case reflect.Int:
		return "integer"
	case reflect.Bool:
		return "boolean"
	case reflect.Struct:
		var fields []string
		for i := 0; i < t.NumField(); i++ {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
			fields = append(fields, name)
		}
		return "{" + strings.Join(fields, ", ") + "}"
	}
	return t.Kind().String()
}
