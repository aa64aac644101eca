package spec

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/hpguard/hpguard/internal/ruleset"
)

// ErrInvalid is wrapped by every validation error, so callers can tell a bad spec from an I/O error.
var ErrInvalid = errors.New("invalid spec")

// Error is a validation problem at a file and line.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *Error) Unwrap() error { return ErrInvalid }

// Errors is a list of validation problems.
type Errors []*Error

func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// Unwrap exposes the single errors to errors.Is and errors.As.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// LoadDir loads and validates the spec in a directory on disk.
func LoadDir(dir string) (*Spec, error) {
	s, err := Load(os.DirFS(dir))
	if s != nil {
		s.Dir = dir
	}
	return s, err
}

// Load reads ruleset.yaml and rules/*.yaml from fsys, then validates the result.
func Load(fsys fs.FS) (*Spec, error) {
	s := &Spec{}
	data, err := fs.ReadFile(fsys, "ruleset.yaml")
	if err != nil {
		return nil, fmt.Errorf("load spec: %w", err)
	}
	rsNode, err := decodeStrict("ruleset.yaml", data, &s.Ruleset)
	if err != nil {
		return nil, err
	}
	annotateProfiles(&s.Ruleset, rsNode)
	names, err := fs.Glob(fsys, "rules/*.yaml")
	if err != nil {
		return nil, fmt.Errorf("load spec: %w", err)
	}
	sort.Strings(names)
	for _, name := range names {
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("load spec: %w", err)
		}
		r := &Rule{File: name}
		node, err := decodeStrict(name, data, r)
		if err != nil {
			return nil, err
		}
		r.Line = node.Line
		annotateParams(r, node)
		annotateCheck(r, node)
		s.Rules = append(s.Rules, r)
	}
	sort.SliceStable(s.Rules, func(i, j int) bool { return s.Rules[i].ID < s.Rules[j].ID })
	if err := s.Validate(); err != nil {
		return s, err
	}
	return s, nil
}

// decodeStrict decodes YAML into v, rejecting unknown fields, and returns the document's root mapping.
func decodeStrict(file string, data []byte, v any) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &Error{File: file, Msg: err.Error()}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) && len(te.Errors) > 0 {
			// yaml.v3 prefixes each message with "line N: ".
			es := Errors{}
			for _, m := range te.Errors {
				es = append(es, lineError(file, m))
			}
			return nil, es
		}
		return nil, &Error{File: file, Msg: err.Error()}
	}
	if len(doc.Content) == 0 {
		return nil, &Error{File: file, Msg: "empty file"}
	}
	return doc.Content[0], nil
}

var lineRE = regexp.MustCompile(`^line (\d+): (.*)$`)

func lineError(file, msg string) *Error {
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		var line int
		fmt.Sscanf(m[1], "%d", &line)
		return &Error{File: file, Line: line, Msg: m[2]}
	}
	return &Error{File: file, Msg: msg}
}

// annotateParams records, for each parameter, its line and whether a default was written.
func annotateParams(r *Rule, root *yaml.Node) {
	params := mapValue(root, "parameters")
	if params == nil || params.Kind != yaml.SequenceNode {
		return
	}
	for i, item := range params.Content {
		if i >= len(r.Parameters) {
			break
		}
		r.Parameters[i].Line = item.Line
		r.Parameters[i].HasDefault = mapValue(item, "default") != nil
	}
}

// annotateCheck records the line of the check and of each of its messages.
func annotateCheck(r *Rule, root *yaml.Node) {
	check := mapValue(root, "check")
	if check == nil {
		return
	}
	r.Check.Line = check.Line
	r.Check.MessageLines = map[string]int{}
	if msgs := mapValue(check, "messages"); msgs != nil && msgs.Kind == yaml.MappingNode {
		for j := 0; j+1 < len(msgs.Content); j += 2 {
			r.Check.MessageLines[msgs.Content[j].Value] = msgs.Content[j].Line
		}
	}
}

// annotateProfiles records the line of each profile and of each of its rule entries.
func annotateProfiles(rs *Ruleset, root *yaml.Node) {
	profiles := mapValue(root, "profiles")
	if profiles == nil || profiles.Kind != yaml.SequenceNode {
		return
	}
	for i, item := range profiles.Content {
		if i >= len(rs.Profiles) {
			break
		}
		p := &rs.Profiles[i]
		p.Line = item.Line
		p.RuleLines = map[string]int{}
		if rules := mapValue(item, "rules"); rules != nil && rules.Kind == yaml.MappingNode {
			for j := 0; j+1 < len(rules.Content); j += 2 {
				p.RuleLines[rules.Content[j].Value] = rules.Content[j].Line
			}
		}
	}
}

func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

var (
	idRE    = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)
	paramRE = regexp.MustCompile(`^[a-z][a-zA-Z0-9]*$`)
	pkgRE   = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
)

// Validate checks the whole spec and returns every problem found, each with its file and line.
func (s *Spec) Validate() error {
	var es Errors
	add := func(file string, line int, format string, args ...any) {
		es = append(es, &Error{File: file, Line: line, Msg: fmt.Sprintf(format, args...)})
	}
	rs := s.Ruleset
	if rs.Name == "" {
		add("ruleset.yaml", 0, "name is required")
	}
	if rs.Version == "" {
		add("ruleset.yaml", 0, "version is required")
	}
	if !pkgRE.MatchString(rs.Package) {
		add("ruleset.yaml", 0, "package %q must be a single lower-case Rego identifier", rs.Package)
	}
	ids := map[string]*Rule{}
	for _, r := range s.Rules {
		if !idRE.MatchString(r.ID) {
			add(r.File, r.Line, "rule id %q must be kebab-case", r.ID)
		}
		if want := "rules/" + r.ID + ".yaml"; r.File != want && path.Base(r.File) != r.ID+".yaml" {
			add(r.File, r.Line, "rule %q must be in a file named %s", r.ID, want)
		}
		if prev, dup := ids[r.ID]; dup {
			add(r.File, r.Line, "duplicate rule id %q (also in %s)", r.ID, prev.File)
		}
		ids[r.ID] = r
		s.validateRule(r, add)
	}
	profiles := map[string]bool{}
	for _, p := range rs.Profiles {
		if !idRE.MatchString(p.Name) {
			add("ruleset.yaml", p.Line, "profile name %q must be kebab-case", p.Name)
		}
		if profiles[p.Name] {
			add("ruleset.yaml", p.Line, "duplicate profile %q", p.Name)
		}
		profiles[p.Name] = true
		if len(p.Rules) == 0 {
			add("ruleset.yaml", p.Line, "profile %q has no rules", p.Name)
		}
		for _, id := range sortedKeys(p.Rules) {
			line := p.RuleLines[id]
			if ids[id] == nil {
				add("ruleset.yaml", line, "profile %q names unknown rule %q", p.Name, id)
			}
			if sev := p.Rules[id]; sev != Deny && sev != Warn {
				add("ruleset.yaml", line, "profile %q: rule %q has severity %q (want deny or warn)", p.Name, id, sev)
			}
		}
	}
	if len(rs.Profiles) == 0 {
		add("ruleset.yaml", 0, "at least one profile is required")
	}
	for i, rw := range rs.Rewrites {
		if rw.Field == "" || rw.Change == "" || rw.Handling == "" || rw.Source == "" {
			add("ruleset.yaml", 0, "rewrites[%d]: field, change, handling and source are required", i)
		}
	}
	for _, l := range rs.NameComparison.Lookalikes {
		r, size := utf8.DecodeRuneInString(l.Char)
		if size != len(l.Char) || r < utf8.RuneSelf {
			add("ruleset.yaml", 0, "nameComparison: lookalike %q must be one non-ASCII character", l.Char)
		}
		if len(l.As) != 1 || l.As[0] < 0x20 || l.As[0] > 0x7e || strings.ToLower(l.As) != l.As {
			add("ruleset.yaml", 0, "nameComparison: lookalike %q must stand for one printable lower-case ASCII character (as: %q)", l.Char, l.As)
		}
	}
	if !profiles[rs.DefaultProfile] {
		add("ruleset.yaml", 0, "defaultProfile %q is not a profile", rs.DefaultProfile)
	}
	if len(es) > 0 {
		sort.SliceStable(es, func(i, j int) bool {
			if es[i].File != es[j].File {
				return es[i].File < es[j].File
			}
			return es[i].Line < es[j].Line
		})
		return es
	}
	return nil
}

func (s *Spec) validateRule(r *Rule, add func(string, int, string, ...any)) {
	if r.Title == "" || r.Description == "" || r.Remediation == "" {
		add(r.File, r.Line, "rule %q needs title, description and remediation", r.ID)
	}
	if len(r.Sources) == 0 {
		add(r.File, r.Line, "rule %q cites no source", r.ID)
	}
	for _, src := range r.Sources {
		if src.Title == "" || !strings.HasPrefix(src.URL, "https://") {
			add(r.File, r.Line, "rule %q: every source needs a title and an https url", r.ID)
		}
	}
	if r.Scope != ScopeHostProcessPods && r.Scope != ScopeAllPods {
		add(r.File, r.Line, "rule %q: scope %q (want %s or %s)", r.ID, r.Scope, ScopeHostProcessPods, ScopeAllPods)
	}
	if r.Check.Kind == "" {
		add(r.File, r.Line, "rule %q has no check kind", r.ID)
	}
	seen := map[string]bool{}
	for _, p := range r.Parameters {
		if !paramRE.MatchString(p.Name) {
			add(r.File, p.Line, "parameter %q must be camelCase", p.Name)
		}
		if seen[p.Name] {
			add(r.File, p.Line, "duplicate parameter %q", p.Name)
		}
		seen[p.Name] = true
		if len(p.Schema) == 0 {
			add(r.File, p.Line, "parameter %q has no schema", p.Name)
		}
		if !p.HasDefault {
			add(r.File, p.Line, "parameter %q has no default", p.Name)
		}
		if p.HasDefault && len(p.Schema) > 0 {
			if err := ruleset.ValidateValue(p.Schema, p.Default); err != nil {
				add(r.File, p.Line, "parameter %q: default %v", p.Name, err)
			}
		}
	}
	if r.Golden.Base != "hostprocess" && r.Golden.Base != "windows" {
		add(r.File, r.Line, "rule %q: golden.base %q (want hostprocess or windows)", r.ID, r.Golden.Base)
	}
	if len(r.Golden.Allowed) == 0 || len(r.Golden.Disallowed) == 0 {
		add(r.File, r.Line, "rule %q needs allowed and disallowed golden values", r.ID)
	}
	names := map[string]bool{}
	check := func(v GoldenValue, allowed bool) {
		if !idRE.MatchString(v.Name) {
			add(r.File, r.Line, "rule %q: golden value name %q must be kebab-case", r.ID, v.Name)
		}
		if names[v.Name] {
			add(r.File, r.Line, "rule %q: duplicate golden value %q", r.ID, v.Name)
		}
		names[v.Name] = true
		for _, at := range v.At {
			switch at {
			case LevelPod, LevelInit, LevelContainer, LevelEphemeral:
			default:
				add(r.File, r.Line, "rule %q: golden value %q: unknown level %q", r.ID, v.Name, at)
			}
		}
		if allowed && len(v.Expect) > 0 {
			add(r.File, r.Line, "rule %q: allowed value %q must not expect findings", r.ID, v.Name)
		}
		if !allowed && len(v.Expect) == 0 {
			add(r.File, r.Line, "rule %q: disallowed value %q expects no finding", r.ID, v.Name)
		}
		for k, pv := range v.Params {
			var param *Parameter
			for i := range r.Parameters {
				if r.Parameters[i].Name == k {
					param = &r.Parameters[i]
				}
			}
			if param == nil {
				add(r.File, r.Line, "rule %q: golden value %q sets unknown parameter %q", r.ID, v.Name, k)
			} else if err := ruleset.ValidateValue(param.Schema, pv); err != nil {
				add(r.File, r.Line, "rule %q: golden value %q: parameter %q %v", r.ID, v.Name, k, err)
			}
		}
	}
	for _, v := range r.Golden.Allowed {
		check(v, true)
	}
	for _, v := range r.Golden.Disallowed {
		check(v, false)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Levels returns the value's target levels (pod when none is given).
func (v GoldenValue) Levels() []string {
	if len(v.At) == 0 {
		return []string{LevelPod}
	}
	return v.At
}
