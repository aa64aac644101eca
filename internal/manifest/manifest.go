// Package manifest reads Kubernetes manifests the way kubectl does, so that what
// hpguard evaluates is the object the cluster would get:
//
//   - The bytes are decoded like kubectl decodes them (see textReader): UTF-8,
//     or UTF-16LE/BE after a byte order mark; invalid UTF-8 is replaced with
//     U+FFFD; a leading UTF-8 byte order mark is dropped. Lines are those of
//     the decoded text.
//   - A stream whose first non-space character is "{" is read as a stream of JSON
//     values with encoding/json; if a value fails to decode before the second
//     one, the rest is read as YAML (k8s.io/apimachinery/pkg/util/yaml
//     YAMLOrJSONDecoder).
//   - YAML is split like kubectl's YAMLReader: on lines starting with "---"
//     followed only by spaces or a comment, with "\r\n" read as "\n". Each chunk
//     is converted with sigs.k8s.io/yaml YAMLToJSON (yaml.v2, YAML 1.1):
//     anchors; merge keys, whose "<<" entries apply in order, so a later merge
//     overrides an earlier explicit key; duplicate keys, the last silently
//     winning; plain y/yes/on and n/no/off (in yaml.v2's case variants) are
//     booleans, also as map keys ("on:" becomes "true"); quoted "true" stays a
//     string.
//   - Chunks of only blank and comment lines are dropped, as kubectl does.
//   - An object with a top-level "items" key is a list to kubectl whatever its
//     kind: its items become Documents, and items with neither kind nor
//     apiVersion get the list's kind minus "List" and its apiVersion, as in
//     kubectl's unstructured decoder.
//
// It fails closed with a Document error where kubectl would skip content
// silently, flatten further or abort the stream: content after a "..."
// document end marker, a "---" line followed by other text (the next documents
// are still read), explicit null documents, List items that are lists, lists
// whose items is null or not an array, and kinds ending in "List" without items.
// A JSON number kubectl cannot decode (out of float64 range, such as 1e400) is
// a Document error too, as it is for kubectl.
//
// Limits: a file over MaxFileBytes or not text kubectl reads (a NUL byte in
// the decoded text, a UTF-32 byte order mark) is a file error. A document over MaxDocumentBytes,
// nested deeper than MaxDepth, or whose aliases would expand it beyond
// MaxDocumentBytes (billion laughs, or a long string aliased many times, which
// yaml.v2's own alias ratio check lets through) is a Document error. Input is
// read one YAML document or JSON value at a time; each returned Document keeps
// its text for FieldLine.
package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"

	yaml "go.yaml.in/yaml/v3"
)

// Document is one input document (or one item of a List document).
type Document struct {
	File   string         // path as given by the user ("-" shown as "<stdin>")
	Index  int            // 0-based index of the YAML/JSON document within the file
	Item   int            // -1 for a plain document; index within `items` when it came from a List
	Line   int            // 1-based line where the document (or the List item) starts in the file
	Object map[string]any // decoded object (nil when Err != nil); numbers as json.Number
	Err    error          // why the document could not be read, nil otherwise; an *Error
	// NonKubernetes, when set, says why the document is not a Kubernetes object at all (a mapping
	// with neither apiVersion nor kind, such as a CI workflow or a package.json): Object holds it,
	// and it is to be skipped, not checked nor reported as an error.
	NonKubernetes string

	src *source // text of the document, parsed lazily by FieldLine
}

// source is the text of one document. FieldLine parses it on first use, so
// that only the text (not a node tree) is held for documents nobody asks about.
type source struct {
	text []byte // YAML chunk or JSON value
	json bool
	base int // file line before the first line of text

	once sync.Once
	root *yaml.Node
}

// node returns the parsed root node of the text (parsed once), or nil.
func (s *source) node() *yaml.Node {
	s.once.Do(func() { s.root = s.parse() })
	return s.root
}

// parse parses the text into nodes (for lines only), or returns nil.
func (s *source) parse() *yaml.Node {
	if s.json {
		return jsonNode(s.text)
	}
	var doc yaml.Node
	if yaml.Unmarshal(s.text, &doc) != nil || len(doc.Content) == 0 {
		return nil
	}
	return doc.Content[0]
}

// Options limits what a read may cost. Zero fields take their defaults.
type Options struct {
	MaxFileBytes     int64 // a file (or stdin) larger than this is an error for that file; default 256 MiB
	MaxDocumentBytes int   // a single document larger than this is an error for that document; default 16 MiB
	MaxDepth         int   // nesting deeper than this is a document error; default 1000
}

// DefaultOptions returns the default limits.
func DefaultOptions() Options {
	return Options{MaxFileBytes: 256 << 20, MaxDocumentBytes: 16 << 20, MaxDepth: 1000}
}

func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.MaxFileBytes <= 0 {
		o.MaxFileBytes = d.MaxFileBytes
	}
	if o.MaxDocumentBytes <= 0 {
		o.MaxDocumentBytes = d.MaxDocumentBytes
	}
	if o.MaxDepth <= 0 {
		o.MaxDepth = d.MaxDepth
	}
	return o
}

// APIVersion returns the apiVersion of the object, or "".
func (d *Document) APIVersion() string { s, _ := d.Object["apiVersion"].(string); return s }

// Kind returns the kind of the object, or "".
func (d *Document) Kind() string { s, _ := d.Object["kind"].(string); return s }

// Name returns metadata.name, or "".
func (d *Document) Name() string { return d.metadata("name") }

// Namespace returns metadata.namespace, or "".
func (d *Document) Namespace() string { return d.metadata("namespace") }

func (d *Document) metadata(field string) string {
	m, _ := d.Object["metadata"].(map[string]any)
	s, _ := m[field].(string)
	return s
}

// FieldLine returns the 1-based file line of a field path such as
// "spec.template.spec.containers[1].securityContext.windowsOptions.hostProcess" (relative to the
// document/item), or of its nearest existing ancestor; d.Line when nothing better is known.
// Map keys containing dots may appear in paths as `metadata.annotations["a.b/c"]`.
// Keys are looked up like yaml.v2 decodes them: the last duplicate wins and merge
// keys are followed to the line where the merged value is written.
func (d *Document) FieldLine(path string) int {
	if d.src == nil {
		return d.Line
	}
	n := d.src.node()
	if d.Item >= 0 {
		items, _, _ := lookup(n, "items", 0)
		n = index(items, d.Item)
	}
	line := d.Line
	for _, s := range parsePath(path) {
		var next *yaml.Node
		var at int
		if s.index >= 0 {
			next = index(n, s.index)
			if next != nil {
				at = next.Line
			}
		} else {
			next, at, _ = lookup(n, s.key, 0)
		}
		if next == nil {
			break
		}
		line, n = d.src.base+at, next
	}
	return line
}

// ReadFile reads one file (or "-" = stdin from the given reader) and returns its documents in order.
// A file-level error (cannot open, too big, not text) is returned as error, an *Error; document-level
// problems are Documents with Err set, and the other documents are still returned.
func ReadFile(path string, stdin io.Reader, opts Options) ([]Document, error) {
	opts = opts.withDefaults()
	if path == "-" {
		if stdin == nil {
			return nil, &Error{File: "<stdin>", Err: fmt.Errorf("no standard input")}
		}
		return read("<stdin>", stdin, opts)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, pathError(path, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > opts.MaxFileBytes {
		return nil, &Error{File: path, Err: newError(ErrTooLarge, "file larger than %d bytes", opts.MaxFileBytes)}
	}
	return read(path, f, opts)
}

// StreamFile is ReadFile that hands each document to fn as soon as it is read, so that memory does
// not grow with the input. A file-level error is returned after the documents read before it.
func StreamFile(path string, stdin io.Reader, opts Options, fn func(Document)) error {
	opts = opts.withDefaults()
	if path == "-" {
		if stdin == nil {
			return &Error{File: "<stdin>", Err: fmt.Errorf("no standard input")}
		}
		_, err := readWith("<stdin>", stdin, opts, fn)
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return pathError(path, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > opts.MaxFileBytes {
		return &Error{File: path, Err: newError(ErrTooLarge, "file larger than %d bytes", opts.MaxFileBytes)}
	}
	_, err = readWith(path, f, opts, fn)
	return err
}

// Pending is a document split from its stream but not decoded yet. Calling it decodes the document,
// on any goroutine: it returns nothing for an empty document, one Document, or one per item of a
// List. Documents from one Pending share one document index, which the caller assigns in stream
// order (the Index fields it returns are not meaningful).
type Pending func() []Document

// StreamPending is StreamFile that leaves decoding to the caller, so that documents can be decoded
// in parallel while the stream is split in order.
func StreamPending(path string, stdin io.Reader, opts Options, fn func(Pending)) error {
	opts = opts.withDefaults()
	if path == "-" {
		if stdin == nil {
			return &Error{File: "<stdin>", Err: fmt.Errorf("no standard input")}
		}
		return readPending("<stdin>", stdin, opts, fn)
	}
	f, err := os.Open(path)
	if err != nil {
		return pathError(path, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > opts.MaxFileBytes {
		return &Error{File: path, Err: newError(ErrTooLarge, "file larger than %d bytes", opts.MaxFileBytes)}
	}
	return readPending(path, f, opts, fn)
}

// StreamPendingReader is StreamPending for a stream already open, such as rendered output, read
// under name with the same limits as a file.
func StreamPendingReader(name string, r io.Reader, opts Options, fn func(Pending)) error {
	return readPending(name, r, opts.withDefaults(), fn)
}

// ReadBytes is ReadFile for in-memory data (used by tests and fuzzing).
func ReadBytes(name string, data []byte, opts Options) ([]Document, error) {
	return read(name, bytes.NewReader(data), opts.withDefaults())
}

// lookup returns the value for key in mapping n and the line of its key, as
// yaml.v2 decodes it: entries apply in order (later ones win) and a merge key
// applies its mapping(s) at its position, earlier maps of a merged sequence
// winning over later ones. hops bounds merge chains.
func lookup(n *yaml.Node, key string, hops int) (val *yaml.Node, line int, ok bool) {
	n = deref(n)
	if n == nil || n.Kind != yaml.MappingNode || hops > 32 {
		return nil, 0, false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			srcs := []*yaml.Node{v}
			if m := deref(v); m != nil && m.Kind == yaml.SequenceNode {
				srcs = m.Content
			}
			for j := len(srcs) - 1; j >= 0; j-- {
				if mv, ml, mok := lookup(srcs[j], key, hops+1); mok {
					val, line, ok = mv, ml, true
				}
			}
		} else if k.Kind == yaml.ScalarNode && k.Value == key {
			val, line, ok = v, k.Line, true
		}
	}
	return deref(val), line, ok
}

// index returns item i of sequence n, or nil.
func index(n *yaml.Node, i int) *yaml.Node {
	n = deref(n)
	if n == nil || n.Kind != yaml.SequenceNode || i >= len(n.Content) {
		return nil
	}
	return n.Content[i]
}

func deref(n *yaml.Node) *yaml.Node {
	if n != nil && n.Kind == yaml.AliasNode {
		return n.Alias
	}
	return n
}

// step is one element of a field path: a map key, or a sequence index (>= 0).
type step struct {
	key   string
	index int
}

// parsePath splits `a.b[1]["c.d"]['e']` into steps. It stops at the first
// malformed element, so FieldLine falls back to the ancestor.
func parsePath(p string) []step {
	var steps []step
	for p != "" {
		switch p[0] {
		case '.':
			p = p[1:]
		case '[':
			end := strings.IndexByte(p, ']')
			switch {
			case strings.HasPrefix(p, `["`):
				q, err := strconv.QuotedPrefix(p[1:])
				if err != nil || !strings.HasPrefix(p[1+len(q):], "]") {
					return steps
				}
				key, _ := strconv.Unquote(q)
				steps, p = append(steps, step{key: key, index: -1}), p[len(q)+2:]
			case strings.HasPrefix(p, "['"):
				end = strings.Index(p, "']")
				if end < 0 {
					return steps
				}
				steps, p = append(steps, step{key: p[2:end], index: -1}), p[end+2:]
			case end > 0:
				i, err := strconv.Atoi(p[1:end])
				if err != nil || i < 0 {
					steps = append(steps, step{key: p[1:end], index: -1})
				} else {
					steps = append(steps, step{index: i})
				}
				p = p[end+1:]
			default:
				return steps
			}
		default:
			end := strings.IndexAny(p, ".[")
			if end < 0 {
				end = len(p)
			}
			steps, p = append(steps, step{key: p[:end], index: -1}), p[end:]
		}
	}
	return steps
}

// jsonNode builds a node tree (structure and lines only) from a valid JSON
// value, so that FieldLine works the same way for JSON as for YAML. Using
// encoding/json rather than a YAML parser keeps escapes YAML rejects, such as
// "\/" and surrogate pairs, working.
func jsonNode(raw []byte) *yaml.Node {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	line, seen := 1, 0
	at := func() int { // line of the last byte of the token just read
		off := int(dec.InputOffset())
		line += bytes.Count(raw[seen:off], []byte{'\n'})
		seen = off
		return line
	}
	var value func(json.Token) *yaml.Node
	value = func(t json.Token) *yaml.Node {
		n := &yaml.Node{Kind: yaml.ScalarNode, Line: at()}
		if t != json.Delim('{') && t != json.Delim('[') {
			return n
		}
		n.Kind = yaml.SequenceNode
		if t == json.Delim('{') {
			n.Kind = yaml.MappingNode
		}
		for dec.More() {
			if n.Kind == yaml.MappingNode {
				k, err := dec.Token()
				if err != nil {
					return n
				}
				key, _ := k.(string)
				n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key, Line: at()})
			}
			v, err := dec.Token()
			if err != nil {
				return n
			}
			n.Content = append(n.Content, value(v))
		}
		_, _ = dec.Token()
		return n
	}
	t, err := dec.Token()
	if err != nil {
		return nil
	}
	return value(t)
}
