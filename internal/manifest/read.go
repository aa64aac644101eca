package manifest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	yamlv2 "go.yaml.in/yaml/v2"
	yaml "go.yaml.in/yaml/v3"
	xunicode "golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
	sigsyaml "sigs.k8s.io/yaml"
)

// jsonSniff is how far kubectl looks for a leading "{" (resource.StreamVisitor
// passes 4096 to NewYAMLOrJSONDecoder).
const jsonSniff = 4096

// reader collects the documents of one file.
type reader struct {
	name  string
	opts  Options
	file  *textReader
	docs  []Document
	index int // Index of the next document
	// emit, when set, receives each document as soon as it is read instead of docs.
	emit func(Document)
	// pending, when set, receives each YAML document undecoded (see StreamPending).
	pending func(Pending)
}

// add records a document: streams it to emit, or keeps it.
func (rd *reader) add(d Document) {
	if rd.emit != nil {
		rd.emit(d)
		return
	}
	rd.docs = append(rd.docs, d)
}

func read(name string, r io.Reader, opts Options) ([]Document, error) {
	return readWith(name, r, opts, nil)
}

func readWith(name string, r io.Reader, opts Options, emit func(Document)) ([]Document, error) {
	rd := &reader{name: name, opts: opts, file: newTextReader(r, opts.MaxFileBytes), emit: emit}
	return rd.run()
}

func readPending(name string, r io.Reader, opts Options, fn func(Pending)) error {
	rd := &reader{name: name, opts: opts, file: newTextReader(r, opts.MaxFileBytes), pending: fn}
	// JSON documents are decoded as they are read; each is handed over already decoded.
	rd.emit = func(d Document) { fn(func() []Document { return []Document{d} }) }
	_, err := rd.run()
	return err
}

func (rd *reader) run() ([]Document, error) {
	name := rd.name
	br := bufio.NewReaderSize(rd.file, 64<<10)
	var err error
	if head, _ := br.Peek(jsonSniff); bytes.HasPrefix(bytes.TrimLeftFunc(head, unicode.IsSpace), []byte("{")) {
		err = rd.readJSON(br)
	} else {
		err = rd.readYAML(br, 1)
	}
	if rd.file.err != nil {
		err = rd.file.err
	}
	if err != nil {
		return nil, &Error{File: name, Line: rd.file.errLine, Err: err}
	}
	return rd.docs, nil
}

// textReader gives the text of a file as kubectl reads it. kubectl reads every
// file, and standard input, through
//
//	transform.NewReader(f, unicode.BOMOverride(unicode.UTF8.NewDecoder()))
//
// (k8s.io/cli-runtime/pkg/resource/visitor.go, FileVisitor.Visit; the
// transformer is golang.org/x/text/encoding/unicode, override.go and
// unicode.go). That is:
//   - a UTF-16LE (FF FE) or UTF-16BE (FE FF) byte order mark switches to
//     UTF-16, and is dropped; an unpaired surrogate becomes U+FFFD;
//   - a UTF-8 byte order mark is dropped and the rest passes unchanged (not
//     repaired: invalid UTF-8 then reaches the YAML parser, which rejects it);
//   - without a byte order mark the bytes are UTF-8, and each invalid sequence
//     is replaced with U+FFFD: invalid bytes in a comment are harmless, and in
//     a value they become U+FFFD in the string kubectl sends;
//   - there is no UTF-32: its byte order mark reads as UTF-16LE followed by
//     U+0000, or as UTF-8 with NUL bytes, both rejected by kubectl's YAML
//     parser ("control characters are not allowed") and JSON decoder.
//
// textReader applies the same transformer, so documents, lines and values are
// those of the decoded text. It also enforces the file size limit (on the bytes
// before decoding) and makes a file error, with a message that says why, of a
// UTF-32 byte order mark and of a NUL byte in the decoded text (a binary file,
// or UTF-16 or UTF-32 without a byte order mark), where kubectl fails on the
// document. Its error is sticky and takes precedence over anything readers
// above report.
type textReader struct {
	size    *sizeReader
	raw     *bufio.Reader // the bytes, through size
	text    io.Reader     // the decoded text, from raw
	started bool
	line    int // newlines in the text read so far
	errLine int // 1-based line of err in the text, 0 when it has none
	err     error
}

func newTextReader(r io.Reader, max int64) *textReader {
	size := &sizeReader{r: r, max: max}
	raw := bufio.NewReader(size)
	return &textReader{size: size, raw: raw, text: transform.NewReader(raw, xunicode.BOMOverride(xunicode.UTF8.NewDecoder()))}
}

func (t *textReader) Read(p []byte) (int, error) {
	if t.err != nil {
		return 0, t.err
	}
	if !t.started {
		t.started = true
		if b, _ := t.raw.Peek(4); string(b) == "\xff\xfe\x00\x00" || string(b) == "\x00\x00\xfe\xff" {
			t.err = newError(ErrBinary, "UTF-32 text (byte order mark % X): kubectl reads UTF-8, or UTF-16 with a byte order mark; save the file as UTF-8", b)
			return 0, t.err
		}
	}
	n, err := t.text.Read(p)
	switch {
	case t.size.err != nil:
		t.err = t.size.err
	case bytes.IndexByte(p[:n], 0) >= 0:
		i := bytes.IndexByte(p[:n], 0)
		t.errLine = t.line + 1 + bytes.Count(p[:i], []byte{'\n'})
		t.err = newError(ErrBinary, "binary file: NUL byte on line %d; kubectl reads UTF-8 text, or UTF-16 with a byte order mark "+
			"(a UTF-16 or UTF-32 file without one has NUL bytes): save the file as UTF-8", t.errLine)
	case err != nil && err != io.EOF:
		t.err = err
	}
	if t.err != nil {
		return 0, t.err
	}
	t.line += bytes.Count(p[:n], []byte{'\n'})
	return n, err
}

// sizeReader fails once more than max bytes are read.
type sizeReader struct {
	r      io.Reader
	max, n int64
	err    error
}

func (s *sizeReader) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.r.Read(p)
	s.n += int64(n)
	if s.n > s.max {
		s.err = newError(ErrTooLarge, "file larger than %d bytes", s.max)
		return 0, s.err
	}
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}

// readJSON reads a stream of JSON values like kubectl's YAMLOrJSONDecoder: when
// a value fails to decode and fewer than two were read, the rest of the stream
// (from the end of the last good value) is read as YAML; after two values the
// failure is final.
func (rd *reader) readJSON(br *bufio.Reader) error {
	in := &countReader{r: br, max: int64(rd.opts.MaxDocumentBytes) + jsonSniff, doc: rd.opts.MaxDocumentBytes}
	dec := json.NewDecoder(in)
	for count := 0; ; count++ {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		buffered, _ := io.ReadAll(dec.Buffered())
		line := 1 + in.lines - bytes.Count(buffered, []byte{'\n'}) // at the decoder position
		switch {
		case err == io.EOF:
			return nil
		case rd.file.err != nil:
			return rd.file.err
		case err != nil:
			space := len(buffered) - len(bytes.TrimLeftFunc(buffered, unicode.IsSpace))
			at := line + bytes.Count(buffered[:space], []byte{'\n'}) // where the bad value starts
			if errors.Is(err, ErrTooLarge) {
				rd.fail(at, at, err)
				return nil
			}
			if count > 1 {
				rd.fail(at, at, wrapError(ErrSyntax, err))
				return nil
			}
			// Like kubectl: continue as YAML after whitespace up to the first newline.
			yr := bufio.NewReaderSize(io.MultiReader(bytes.NewReader(buffered), br), 64<<10)
			for {
				r, _, err := yr.ReadRune()
				if err != nil || !unicode.IsSpace(r) {
					_ = yr.UnreadRune()
					break
				}
				if r == '\n' {
					line++
					break
				}
			}
			return rd.readYAML(yr, line)
		}
		in.max = dec.InputOffset() + int64(rd.opts.MaxDocumentBytes) + jsonSniff
		rd.jsonDoc(raw, line-bytes.Count(raw, []byte{'\n'}))
	}
}

// countReader counts the lines fed to the JSON decoder and stops it from
// buffering a value much larger than MaxDocumentBytes.
type countReader struct {
	r      io.Reader
	n, max int64
	lines  int
	doc    int // MaxDocumentBytes, for the error message
}

func (c *countReader) Read(p []byte) (int, error) {
	if c.n+int64(len(p)) > c.max {
		p = p[:max(0, c.max-c.n)]
	}
	if len(p) == 0 {
		return 0, newError(ErrTooLarge, "document larger than %d bytes", c.doc)
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	c.lines += bytes.Count(p[:n], []byte{'\n'})
	return n, err
}

func (rd *reader) jsonDoc(raw []byte, line int) {
	if len(raw) > rd.opts.MaxDocumentBytes {
		rd.fail(line, line, newError(ErrTooLarge, "document larger than %d bytes", rd.opts.MaxDocumentBytes))
		return
	}
	obj, err := decodeJSON(raw)
	if err != nil {
		rd.fail(line, line, err)
		return
	}
	if tooDeep(obj, rd.opts.MaxDepth) {
		rd.fail(line, line, newError(ErrTooDeep, "nesting deeper than %d levels", rd.opts.MaxDepth))
		return
	}
	src := &source{text: raw, json: true, base: line - 1}
	if at, err := numbers(obj, src, line); err != nil {
		rd.fail(line, at, err)
		return
	}
	rd.object(obj, src, nil, line, "a JSON array")
}

// readYAML splits a YAML stream whose first line is file line `line`.
func (rd *reader) readYAML(br *bufio.Reader, line int) error {
	sp := &splitter{br: br, line: line, max: rd.opts.MaxDocumentBytes}
	for {
		c, ok, err := sp.next()
		if err != nil || !ok {
			return err
		}
		if rd.pending != nil {
			c.text = bytes.Clone(c.text)
			name, opts := rd.name, rd.opts
			rd.pending(func() []Document {
				sub := &reader{name: name, opts: opts}
				sub.yamlDoc(c)
				return sub.docs
			})
			continue
		}
		rd.yamlDoc(c)
	}
}

// chunk is the text between two "---" lines, with "\n" line ends.
type chunk struct {
	text []byte
	line int   // file line of the first line of text
	err  error // bad separator line, or too large (text is then nil)
}

// splitter splits a YAML stream like kubectl's YAMLReader and LineReader.
type splitter struct {
	br      *bufio.Reader
	line    int // file line of the next line
	max     int
	buf     []byte
	pending *chunk
}

// next returns the next chunk; ok is false at the end of the stream.
func (s *splitter) next() (c chunk, ok bool, err error) {
	if s.pending != nil {
		c, s.pending = *s.pending, nil
		return c, true, nil
	}
	c.line = s.line
	s.buf = s.buf[:0]
	tooLarge := false
	for {
		line, more, err := s.readLine()
		if err != nil {
			return c, false, err
		}
		if !more {
			break
		}
		s.line++
		if bytes.HasPrefix(line, []byte("---")) {
			if rest := bytes.TrimSpace(line[3:]); len(rest) > 0 && rest[0] != '#' {
				bad := chunk{line: s.line - 1, err: newError(ErrSyntax, "invalid document separator %q", line)}
				if len(s.buf) == 0 && !tooLarge {
					return bad, true, nil
				}
				s.pending = &bad
			}
			if len(s.buf) > 0 || tooLarge {
				break
			}
			c.line = s.line
			continue
		}
		if tooLarge || len(s.buf)+len(line)+1 > s.max {
			tooLarge, s.buf = true, s.buf[:0]
			continue
		}
		s.buf = append(append(s.buf, line...), '\n')
	}
	if tooLarge {
		c.err = newError(ErrTooLarge, "document larger than %d bytes", s.max)
		return c, true, nil
	}
	c.text = s.buf
	return c, len(c.text) > 0, nil
}

// readLine returns the next line without "\n" or "\r\n" (more is false at the
// end of input). A line longer than max is returned truncated to max+1 bytes.
func (s *splitter) readLine() (line []byte, more bool, err error) {
	for {
		frag, err := s.br.ReadSlice('\n')
		switch {
		case err != nil && err != bufio.ErrBufferFull && err != io.EOF:
			return nil, false, err
		case err == nil && line == nil:
			line = frag // the common case: no copy
		default:
			line = append(line, frag[:min(len(frag), max(0, s.max+1-len(line)))]...)
		}
		if err != bufio.ErrBufferFull {
			break
		}
	}
	if len(line) == 0 {
		return nil, false, nil
	}
	if bytes.HasSuffix(line, []byte("\n")) {
		line = bytes.TrimSuffix(line[:len(line)-1], []byte("\r"))
	}
	return line, true, nil
}

var v2LineRE = regexp.MustCompile(`^yaml: line (\d+):`)

func (rd *reader) yamlDoc(c chunk) {
	if c.err != nil {
		rd.fail(c.line, c.line, c.err)
		return
	}
	first := firstContentLine(c.text)
	if first < 0 {
		// Only blank lines and comments: kubectl skips it, unless it is not UTF-8
		// (after a UTF-8 byte order mark, see textReader), which yaml.v2 rejects.
		if i := invalidUTF8(c.text); i >= 0 {
			at := c.line + bytes.Count(c.text[:i], []byte{'\n'})
			rd.fail(at, at, newError(ErrSyntax, "invalid UTF-8 in a file that starts with a UTF-8 byte order mark, "+
				"which kubectl's YAML parser rejects: save the file as UTF-8, or remove the byte order mark"))
		}
		return
	}
	line := c.line + first
	// Without an anchor ("&") yaml.v2's result is bounded by the text and only
	// its depth needs checking; this skips the slower structure pass.
	var root *yaml.Node
	if bytes.IndexByte(c.text, '&') >= 0 || bytes.HasPrefix(c.text, []byte("...")) || bytes.Contains(c.text, []byte("\n...")) {
		var err error
		if root, err = rd.structure(c.text); err != nil {
			rd.fail(line, line, err)
			return
		}
	}
	js, err := sigsyaml.YAMLToJSON(c.text)
	if err != nil {
		at := line
		if m := v2LineRE.FindStringSubmatch(err.Error()); m != nil {
			n, _ := strconv.Atoi(m[1])
			at = c.line + n - 1
		}
		if !namesTypeMeta(c.text) && !strings.Contains(err.Error(), "max depth") {
			rd.skip(line, fmt.Sprintf("not a Kubernetes object: not valid YAML or JSON (line %d: %s), and it names neither apiVersion nor kind",
				at, strings.TrimSpace(strings.TrimPrefix(v2LineRE.ReplaceAllString(err.Error(), ""), "yaml: "))))
			return
		}
		rd.fail(line, at, wrapError(ErrSyntax, err))
		return
	}
	obj, err := decodeJSON(js)
	if err == nil && tooDeep(obj, rd.opts.MaxDepth) {
		err = newError(ErrTooDeep, "nesting deeper than %d levels", rd.opts.MaxDepth)
	}
	if err != nil {
		rd.fail(line, line, err)
		return
	}
	src := &source{text: bytes.Clone(c.text), base: c.line - 1}
	if at, err := numbers(obj, src, line); err != nil {
		rd.fail(line, at, err)
		return
	}
	rd.object(obj, src, root, line, "a YAML sequence")
}

// structure checks a YAML document before yaml.v2 expands its aliases: at
// most one document, and size and depth within limits with aliases expanded.
// yaml.v3 keeps aliases unexpanded, so this is linear even for alias bombs.
// When yaml.v3 cannot parse the text, the limits are checked on yaml.v2's
// result instead. It returns the root node, if parsed.
func (rd *reader) structure(text []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(text))
	var doc, extra yaml.Node
	if err := dec.Decode(&doc); err != nil {
		var v any
		if yamlv2.Unmarshal(text, &v) != nil {
			return nil, nil // YAMLToJSON reports it
		}
		size, deep := 0, 0
		measure(v, 1, &size, &deep, rd.opts)
		return nil, rd.limits(size, deep)
	}
	if dec.Decode(&extra) != io.EOF {
		return nil, newError(ErrSyntax, `content after document end marker "..."`)
	}
	if err := rd.limits(expansion(&doc, rd.opts.MaxDocumentBytes, map[*yaml.Node][2]int{})); err != nil {
		return nil, err
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	return doc.Content[0], nil
}

func (rd *reader) limits(size, deep int) error {
	if size > rd.opts.MaxDocumentBytes {
		return newError(ErrTooLarge, "document expands to more than %d bytes through aliases", rd.opts.MaxDocumentBytes)
	}
	if deep > rd.opts.MaxDepth {
		return newError(ErrTooDeep, "nesting deeper than %d levels", rd.opts.MaxDepth)
	}
	return nil
}

// firstContentLine returns the 0-based index of the first line of text that is
// not blank or a comment, or -1.
func firstContentLine(text []byte) int {
	for i := 0; len(text) > 0; i++ {
		line, rest, _ := bytes.Cut(text, []byte{'\n'})
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] != '#' {
			return i
		}
		text = rest
	}
	return -1
}

// expansion returns the size and the nesting depth of n with aliases expanded,
// capping the size just above limit. The size counts one byte per node plus
// scalar values, which is at most the length of the text when there are no
// aliases. Anchored nodes are memoized, so the walk is linear in the size of
// the text even for alias bombs; an alias cycle counts as empty (yaml.v2
// rejects it).
func expansion(n *yaml.Node, limit int, memo map[*yaml.Node][2]int) (size, deep int) {
	switch n.Kind {
	case yaml.AliasNode:
		return expansion(n.Alias, limit, memo)
	case yaml.ScalarNode:
		return len(n.Value) + 1, 0
	}
	if r, ok := memo[n]; ok {
		return r[0], r[1]
	}
	if n.Anchor != "" {
		memo[n] = [2]int{}
	}
	size = 1
	for _, c := range n.Content {
		s, d := expansion(c, limit, memo)
		size, deep = min(size+s, limit+1), max(deep, d)
	}
	if n.Kind != yaml.DocumentNode {
		deep++
	}
	if n.Anchor != "" {
		memo[n] = [2]int{size, deep}
	}
	return size, deep
}

// measure is expansion for a value decoded by yaml.v2 (aliases already
// expanded, strings shared); it stops once a limit is exceeded.
func measure(v any, level int, size, deep *int, o Options) {
	if *size > o.MaxDocumentBytes || *deep > o.MaxDepth {
		return
	}
	switch v := v.(type) {
	case map[any]any:
		*size++
		*deep = max(*deep, level)
		for k, e := range v {
			measure(k, level+1, size, deep, o)
			measure(e, level+1, size, deep, o)
		}
	case []any:
		*size++
		*deep = max(*deep, level)
		for _, e := range v {
			measure(e, level+1, size, deep, o)
		}
	case string:
		*size += len(v) + 1
	default:
		*size++
	}
}

// tooDeep reports whether v nests more than limit maps and arrays.
func tooDeep(v any, limit int) bool {
	switch v := v.(type) {
	case map[string]any:
		for _, e := range v {
			if limit == 0 || tooDeep(e, limit-1) {
				return true
			}
		}
		return limit == 0
	case []any:
		for _, e := range v {
			if limit == 0 || tooDeep(e, limit-1) {
				return true
			}
		}
		return limit == 0
	}
	return false
}

// decodeJSON decodes one JSON value with numbers as json.Number.
func decodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, wrapError(ErrSyntax, err)
	}
	return v, nil
}

// numbers checks the numbers of a decoded document as kubectl decodes them:
// k8s.io/apimachinery/pkg/util/json Unmarshal (UnmarshalCaseSensitivePreserveInts
// of sigs.k8s.io/json, decodeState.convertNumber), called by the unstructured
// decoder (pkg/apis/meta/v1/unstructured, unstructuredJSONScheme.decode), reads
// an integer that fits int64 as int64 and any other number with
// strconv.ParseFloat(s, 64), failing with "cannot unmarshal number ... into Go
// value of type float64" when it is out of float64 range. So 99999999999999999999
// is accepted (as the float64 1e20) and 1e400 refuses the whole document. Only
// JSON input can hold such a number: in YAML, yaml.v2 resolves a plain scalar
// that does not parse as a float64 (1e400) to a string, and sigs.k8s.io/yaml
// writes the others as float64 values. It returns an error naming the field of
// the first such number (by field path) and its line, or line and nil.
func numbers(obj any, src *source, line int) (int, error) {
	var bad []string
	var walk func(v any, path string)
	walk = func(v any, path string) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				walk(e, path+fieldStep(k, path == ""))
			}
		case []any:
			for i, e := range v {
				walk(e, path+"["+strconv.Itoa(i)+"]")
			}
		case json.Number:
			if _, err := strconv.ParseFloat(string(v), 64); err != nil {
				bad = append(bad, path+"\x00"+string(v))
			}
		}
	}
	walk(obj, "")
	if len(bad) == 0 {
		return line, nil
	}
	slices.Sort(bad)
	path, n, _ := strings.Cut(bad[0], "\x00")
	more := ""
	if len(bad) > 1 {
		more = fmt.Sprintf(" (and %d more)", len(bad)-1)
	}
	d := Document{Item: -1, Line: line, src: src}
	return d.FieldLine(path), newError(ErrSyntax, "%s: number %s is out of range: kubectl cannot decode it as a float64 and refuses the document%s; "+
		"write a number within ±1.8e308, or quote it to make it a string", path, n, more)
}

// fieldStep is the field path element for map key k: ".k" (or "k" first), or
// `["k"]` when k holds characters FieldLine would split on.
func fieldStep(k string, first bool) string {
	if k == "" || strings.ContainsAny(k, ".[]\"'") {
		return "[" + strconv.Quote(k) + "]"
	}
	if first {
		return k
	}
	return "." + k
}

// invalidUTF8 returns the offset of the first invalid UTF-8 sequence in b, or -1.
func invalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return -1
}

// fail records a document that could not be read; line is where it starts,
// at where the problem is.
func (rd *reader) fail(line, at int, err error) {
	rd.add(Document{File: rd.name, Index: rd.index, Item: -1, Line: line,
		Err: &Error{File: rd.name, Line: at, Err: err}})
	rd.index++
}

// skip records a document that is not a Kubernetes object at all, with the reason.
func (rd *reader) skip(line int, reason string) {
	rd.add(Document{File: rd.name, Index: rd.index, Item: -1, Line: line, NonKubernetes: reason})
	rd.index++
}

// typeMetaRE finds what could be an apiVersion or a kind key, in any case.
var typeMetaRE = regexp.MustCompile(`(?i)api_?version|\bkind\b`)

// namesTypeMeta reports whether text mentions apiVersion or kind anywhere (a key, a value, a
// comment). A document that cannot be decoded, or is not a mapping, is an error when it does: it
// looks like a manifest with a mistake. When it does not (a tsconfig.json with comments, a
// .pre-commit-hooks.yaml, which is a sequence), it is not a Kubernetes object and is skipped:
// kubectl cannot send it to a cluster either, so skipping it leaves nothing unchecked.
func namesTypeMeta(text []byte) bool { return typeMetaRE.Match(text) }

// object records a decoded document, expanding lists like kubectl. root is
// the parsed text when at hand (for the lines of list items).
func (rd *reader) object(obj any, src *source, root *yaml.Node, line int, seq string) {
	m, ok := obj.(map[string]any)
	if !ok {
		if !namesTypeMeta(src.text) {
			rd.skip(line, fmt.Sprintf("not a Kubernetes object: %s, and it names neither apiVersion nor kind", describe(obj, seq)))
			return
		}
		rd.fail(line, line, newError(ErrNotObject, "document is %s, not a Kubernetes object", describe(obj, seq)))
		return
	}
	d := Document{File: rd.name, Index: rd.index, Item: -1, Line: line, src: src}
	rd.index++
	if reason := nonKubernetes(m); reason != "" {
		d.Object, d.NonKubernetes = m, reason
		rd.add(d)
		return
	}
	items, isList := m["items"]
	kind, _ := m["kind"].(string)
	var err error
	switch arr, ok := items.([]any); {
	case !isList && strings.HasSuffix(kind, "List"):
		err = newError(ErrNotObject, "%s has no items array", kind)
	case isList && !ok:
		err = newError(ErrNotObject, "items is %s, not an array", describe(items, "a sequence"))
	default:
		err = typeMeta(m)
		if err == nil && isList {
			if root == nil {
				root = src.parse()
			}
			nodes, _, _ := lookup(root, "items", 0)
			rd.items(d, arr, nodes, kind, m["apiVersion"].(string))
			return
		}
	}
	if err != nil {
		d.Err, d.src = &Error{File: rd.name, Line: line, Err: err}, nil
	} else {
		d.Object = m
	}
	rd.add(d)
}

// items records one Document per list item. Items with neither kind nor
// apiVersion get them from the list, as kubectl's unstructured decoder does.
func (rd *reader) items(list Document, arr []any, nodes *yaml.Node, kind, apiVersion string) {
	itemKind := strings.TrimSuffix(kind, "List")
	for i, it := range arr {
		d := list
		d.Item = i
		if n := index(nodes, i); n != nil {
			d.Line = list.src.base + n.Line
		}
		m, ok := it.(map[string]any)
		var err error
		switch {
		case !ok:
			err = newError(ErrNotObject, "list item is %s, not a Kubernetes object", describe(it, "a sequence"))
		case isArray(m["items"]):
			err = newError(ErrNotObject, "list item is itself a list (nested lists are not supported)")
		default:
			if k, _ := m["kind"].(string); k == "" && itemKind != "" {
				if v, _ := m["apiVersion"].(string); v == "" {
					m["kind"], m["apiVersion"] = itemKind, apiVersion
				}
			}
			err = typeMeta(m)
		}
		if err != nil {
			d.Err, d.src = &Error{File: rd.name, Line: d.Line, Err: err}, nil
		} else {
			d.Object = m
		}
		rd.add(d)
	}
}

func isArray(v any) bool { _, ok := v.([]any); return ok }

// nonKubernetes says why the mapping m is not a Kubernetes object at all, or returns "": a mapping
// with neither an apiVersion nor a kind key (a CI workflow, a package.json, a values file).
// kubectl refuses it and nothing can send it to a cluster, so it is not checked, and not an error
// either. A mapping with one of the two keys (even empty or null) is a manifest with a mistake:
// typeMeta makes it an error.
func nonKubernetes(m map[string]any) string {
	_, hasAPIVersion := m["apiVersion"]
	_, hasKind := m["kind"]
	if hasAPIVersion || hasKind {
		return ""
	}
	return "not a Kubernetes object: neither apiVersion nor kind"
}

// typeMeta checks that kind and apiVersion are non-empty strings.
func typeMeta(m map[string]any) error {
	for _, f := range []string{"apiVersion", "kind"} {
		v, present := m[f]
		if s, ok := v.(string); !present || (ok && s == "") {
			return newError(ErrMissingField, "missing %q", f)
		} else if !ok {
			return newError(ErrMissingField, "%q is %s, not a string", f, describe(v, "a sequence"))
		}
	}
	return nil
}

func describe(v any, seq string) string {
	switch v.(type) {
	case nil:
		return "null"
	case []any:
		return seq
	case map[string]any:
		return "a mapping"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	default:
		return "a number"
	}
}
