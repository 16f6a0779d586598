package ini

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"unicode"

	goini "gopkg.in/ini.v1"
)

// KV is one key and the value it must have.
type KV struct {
	Key   string
	Value string
}

// line is one physical line of the file with its terminator.
type line struct {
	text []byte // without terminator
	term []byte // "\n", "\r\n" or "" (last line without newline)
	kind kind
	// for kindKey and kindCommentedKey: the key (lower-case), and where the
	// value starts in text
	key      string
	valStart int
	section  int // index into doc.sections; -1 before the first header
}

type kind int

const (
	kindBlank kind = iota
	kindComment
	kindCommentedKey // "# key=value" / "#key=" / "; key=value"
	kindHeader
	kindKey
	kindContinuation
	kindOther
)

type section struct {
	name       string
	header     int // line index of [name]
	start, end int // lines (start = header+1) .. end (exclusive)
}

type doc struct {
	lines    []line
	sections []section
	crlf     bool
}

// ErrBinary is returned for input that cannot be an INI file.
var ErrBinary = errors.New("not a text INI file (contains NUL bytes)")

func parse(src []byte) (*doc, error) {
	if bytes.IndexByte(src, 0) >= 0 {
		return nil, ErrBinary
	}
	d := &doc{}
	cur := -1
	prevKey := false // the previous line was a key or its continuation
	for len(src) > 0 {
		var l line
		i := bytes.IndexByte(src, '\n')
		if i < 0 {
			l.text, src = src, nil
		} else {
			l.text, l.term, src = src[:i], src[i:i+1], src[i+1:]
			if len(l.text) > 0 && l.text[len(l.text)-1] == '\r' {
				l.text, l.term = l.text[:len(l.text)-1], []byte("\r\n")
			}
		}
		if len(d.lines) == 0 && bytes.Equal(l.term, []byte("\r\n")) {
			d.crlf = true
		}
		t := bytes.TrimSpace(l.text)
		// any leading white space indents (configparser looks for the
		// first \S, so "\f" counts as ' ' does)
		indented := len(l.text) > 0 && len(bytes.TrimLeftFunc(l.text, unicode.IsSpace)) < len(l.text)
		switch {
		case len(t) == 0:
			// configparser keeps a value open over blank lines (an
			// indented line after them still continues it)
			l.kind = kindBlank
		case indented && prevKey && t[0] != '#' && t[0] != ';':
			// configparser reads an indented line after a key as more of
			// its value
			l.kind = kindContinuation
		case t[0] == '#' || t[0] == ';':
			l.kind = kindComment
			body := bytes.TrimLeft(t, "#; \t")
			if k, _, ok := splitKey(body); ok {
				l.kind = kindCommentedKey
				l.key = k
				// value start within l.text: after the delimiter and spaces
				off := bytes.Index(l.text, body)
				_, vs, _ := splitKey(l.text[off:])
				l.valStart = off + vs
			}
			prevKey = false
		case t[0] == '[' && bytes.IndexByte(t, ']') > 0:
			l.kind = kindHeader
			// configparser's \[(?P<header>.+)\] is greedy: the name runs
			// to the last ']' ("[Security]]" is section "Security]")
			name := string(t[1:bytes.LastIndexByte(t, ']')])
			if cur >= 0 {
				d.sections[cur].end = len(d.lines)
			}
			d.sections = append(d.sections, section{name: name, header: len(d.lines), start: len(d.lines) + 1})
			cur = len(d.sections) - 1
			prevKey = false
		default:
			if k, vs, ok := splitKey(l.text); ok {
				l.kind = kindKey
				l.key = k
				l.valStart = vs
				prevKey = true
			} else {
				l.kind = kindOther
				// configparser takes any "x=" as an option ("s[=" too),
				// so an indented line after it still continues it
				prevKey = bytes.IndexAny(t, "=:") > 0
			}
		}
		if l.kind == kindHeader {
			l.section = cur
		} else {
			l.section = cur
		}
		d.lines = append(d.lines, l)
	}
	if cur >= 0 {
		d.sections[cur].end = len(d.lines)
	}
	return d, nil
}

// splitKey reads "key = value" (delimiter '=' or ':', as configparser):
// the lower-cased key and the offset where the value starts.
func splitKey(b []byte) (string, int, bool) {
	i := bytes.IndexAny(b, "=:")
	if i <= 0 {
		return "", 0, false
	}
	k := bytes.TrimSpace(b[:i])
	if len(k) == 0 || bytes.ContainsAny(k, "[]#;") || bytes.ContainsAny(k, " \t") {
		return "", 0, false
	}
	j := i + 1
	for j < len(b) && (b[j] == ' ' || b[j] == '\t') {
		j++
	}
	return strings.ToLower(string(k)), j, true
}

func (d *doc) bytes() []byte {
	var b bytes.Buffer
	for _, l := range d.lines {
		b.Write(l.text)
		b.Write(l.term)
	}
	return b.Bytes()
}

func (d *doc) nl() []byte {
	if d.crlf {
		return []byte("\r\n")
	}
	return []byte("\n")
}

// value is the stripped value of a key line (continuations not included).
func (l *line) value() string {
	return strings.TrimSpace(string(l.text[l.valStart:]))
}

// Set makes every key of kvs have its value in section, changing as few
// lines as possible:
//  1. every active "key=" line of the section gets the new value (spacing
//     before the value kept; a duplicate is warned about, as Python 3's
//     configparser refuses duplicates);
//  2. else the first commented "# key=" / "#key=" line of the section is
//     turned into the active line in place;
//  3. else "key=value" is inserted after the section's last non-blank line
//     (a comment block that heads the next section stays with it);
//  4. else, when the section is missing, it is appended at the end.
//
// changed is false when the output equals src. Keys match
// case-insensitively (configparser lower-cases them); section names match
// exactly, as in configparser.
func Set(src []byte, sectionName string, kvs []KV) (out []byte, changed bool, warnings []string, err error) {
	d, err := parse(src)
	if err != nil {
		return nil, false, nil, err
	}
	if err := checkName(sectionName, kvs); err != nil {
		return nil, false, nil, err
	}
	warnings = append(warnings, d.dupSectionWarnings(sectionName)...)
	var pending []KV
	for _, kv := range kvs {
		key := strings.ToLower(kv.Key)
		active := d.find(sectionName, key, kindKey)
		if len(active) > 1 {
			warnings = append(warnings, fmt.Sprintf("[%s] %s is set %d times (lines %s); every one is set to %q", sectionName, kv.Key, len(active), lineList(active), kv.Value))
		}
		for _, i := range active {
			l := &d.lines[i]
			if d.indentedAfter(i) {
				warnings = append(warnings, fmt.Sprintf("[%s] %s at line %d has a multi-line value; only its first line is replaced", sectionName, kv.Key, i+1))
			}
			if l.value() != kv.Value {
				l.text = append(append([]byte(nil), l.text[:l.valStart]...), kv.Value...)
			}
		}
		if len(active) > 0 {
			continue
		}
		if c := d.find(sectionName, key, kindCommentedKey); len(c) > 0 && !d.indentedAfter(c[0]) {
			l := &d.lines[c[0]]
			body := l.text[:l.valStart]
			// the same white space the parser took as indentation (\r and
			// \f too), then the comment marks
			body = bytes.TrimLeftFunc(body, func(r rune) bool { return unicode.IsSpace(r) || r == '#' || r == ';' })
			l.text = append(append([]byte(nil), body...), kv.Value...)
			l.kind = kindKey
			l.valStart = len(body)
			continue
		}
		pending = append(pending, kv)
	}
	if len(pending) > 0 {
		if err := d.insert(sectionName, pending); err != nil {
			return nil, false, warnings, err
		}
	}
	out = d.bytes()
	return out, !bytes.Equal(out, src), warnings, nil
}

// indentedAfter reports whether the next non-blank line after i is an
// indented non-comment: configparser would read it as more of the value
// if line i became an active key.
func (d *doc) indentedAfter(i int) bool {
	for j := i + 1; j < len(d.lines); j++ {
		l := d.lines[j]
		t := bytes.TrimLeftFunc(l.text, unicode.IsSpace)
		if l.kind == kindBlank || len(t) == 0 || t[0] == '#' || t[0] == ';' {
			// configparser skips blank lines and full-line comments and
			// goes on with the value after them
			continue
		}
		return len(t) < len(l.text)
	}
	return false
}

// Unset comments out every active line of the keys in section ("# " in
// front, CM's style for an inactive key). Missing keys are no change.
func Unset(src []byte, sectionName string, keys []string) (out []byte, changed bool, err error) {
	d, err := parse(src)
	if err != nil {
		return nil, false, err
	}
	for _, k := range keys {
		for _, i := range d.find(sectionName, strings.ToLower(k), kindKey) {
			l := &d.lines[i]
			l.text = append([]byte("# "), l.text...)
			l.kind = kindCommentedKey
		}
	}
	out = d.bytes()
	return out, !bytes.Equal(out, src), nil
}

func checkName(section string, kvs []KV) error {
	if section == "" || strings.ContainsAny(section, "[]\r\n") {
		return fmt.Errorf("invalid section name %q", section)
	}
	for _, kv := range kvs {
		if kv.Key == "" || strings.ContainsAny(kv.Key, "=:[]#; \t\r\n") {
			return fmt.Errorf("invalid key %q", kv.Key)
		}
		if strings.IndexFunc(kv.Value, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }) >= 0 || strings.TrimSpace(kv.Value) != kv.Value {
			return fmt.Errorf("invalid value %q for %s: no line breaks, control characters or surrounding spaces", kv.Value, kv.Key)
		}
		// ini.v1 (the reader behind Get) takes a value that starts with a
		// backtick or """ as a quoted, possibly multi-line value, so it
		// would not read back what was written
		if strings.HasPrefix(kv.Value, "`") || strings.HasPrefix(kv.Value, `"""`) {
			return fmt.Errorf("invalid value %q for %s: it may not start with ` or \"\"\"", kv.Value, kv.Key)
		}
	}
	return nil
}

func lineList(idx []int) string {
	s := make([]string, len(idx))
	for i, v := range idx {
		s[i] = fmt.Sprint(v + 1)
	}
	return strings.Join(s, ", ")
}

func (d *doc) dupSectionWarnings(name string) []string {
	var at []int
	for _, s := range d.sections {
		if s.name == name {
			at = append(at, s.header)
		}
	}
	if len(at) > 1 {
		return []string{fmt.Sprintf("section [%s] appears %d times (lines %s); Python 3's configparser refuses that", name, len(at), lineList(at))}
	}
	return nil
}

// find returns the lines of kind k for key in every occurrence of section.
func (d *doc) find(name, key string, k kind) []int {
	var out []int
	for _, s := range d.sections {
		if s.name != name {
			continue
		}
		for i := s.start; i < s.end; i++ {
			if d.lines[i].kind == k && d.lines[i].key == key {
				out = append(out, i)
			}
		}
	}
	return out
}

// ErrIndentedAfter is returned when a key would have to be inserted just
// above an indented line: configparser would then read that line as more of
// the new key's value, so the edit would change what the agent reads.
var ErrIndentedAfter = errors.New("an indented line follows the place the key would go; configparser would read it as part of the new value")

func (d *doc) insert(name string, kvs []KV) error {
	nl := d.nl()
	newLines := func() []line {
		var ls []line
		for _, kv := range kvs {
			ls = append(ls, line{text: []byte(kv.Key + "=" + kv.Value), term: nl, kind: kindKey, key: strings.ToLower(kv.Key), valStart: len(kv.Key) + 1})
		}
		return ls
	}
	for _, s := range d.sections {
		if s.name != name {
			continue
		}
		at := s.header // insert after this line
		last := s.end - 1
		// a comment block directly above the next header belongs to it
		if s.end < len(d.lines) {
			for last > s.header && d.lines[last].kind == kindComment {
				last--
			}
			if last < s.end-1 && d.lines[last].kind != kindBlank && last != s.header {
				// the comments were not separated from the section's body by a
				// blank line: keep them as part of this section
				last = s.end - 1
			}
		}
		for last > s.header && d.lines[last].kind == kindBlank {
			last--
		}
		if last > at {
			at = last
		}
		if d.indentedAfter(at) {
			return fmt.Errorf("[%s] after line %d: %w (remove the indentation of the next line, or add the key by hand)", name, at+1, ErrIndentedAfter)
		}
		d.splice(at, newLines())
		return nil
	}
	// no such section: append it
	ls := append([]line{{text: []byte("[" + name + "]"), term: nl, kind: kindHeader}}, newLines()...)
	if n := len(d.lines); n > 0 {
		if d.lines[n-1].kind != kindBlank {
			ls = append([]line{{term: nl, kind: kindBlank}}, ls...)
		}
	}
	d.splice(len(d.lines)-1, ls)
	return nil
}

// splice inserts ls after line at (-1: at the start). When at is the last
// line and it has no newline, the newline moves to the end of the inserted
// lines, so that a file without a final newline stays without one.
func (d *doc) splice(at int, ls []line) {
	if at >= 0 && at == len(d.lines)-1 && len(d.lines[at].term) == 0 {
		d.lines[at].term = d.nl()
		ls[len(ls)-1].term = nil
	}
	out := make([]line, 0, len(d.lines)+len(ls))
	out = append(out, d.lines[:at+1]...)
	out = append(out, ls...)
	out = append(out, d.lines[at+1:]...)
	d.lines = out
}

// Get reads key in section the way the agent would: gopkg.in/ini.v1 with
// IgnoreInlineComment (a '#' inside a value is part of it), keys
// case-insensitive, the last of duplicate keys winning. ok is false when
// the key is not set.
func Get(src []byte, section, key string) (value string, ok bool, err error) {
	f, err := Load(src)
	if err != nil {
		return "", false, err
	}
	s, err := f.GetSection(section)
	if err != nil {
		return "", false, nil
	}
	if !s.HasKey(strings.ToLower(key)) {
		return "", false, nil
	}
	// configparser joins a multi-line value and strips trailing
	// whitespace, so an indented blank line after a key adds nothing;
	// ini.v1 keeps it
	return strings.TrimRightFunc(s.Key(strings.ToLower(key)).String(), unicode.IsSpace), true, nil
}

// Load parses src with ini.v1 as configparser would read it.
func Load(src []byte) (*goini.File, error) {
	if bytes.IndexByte(src, 0) >= 0 {
		return nil, ErrBinary
	}
	// configparser skips a full-line comment, indented or not, and a
	// multi-line value goes on after it; ini.v1 would take an indented
	// one as part of the value, so comments are dropped before it reads
	var kept []byte
	for _, l := range bytes.SplitAfter(src, []byte("\n")) {
		if t := bytes.TrimSpace(l); len(t) > 0 && (t[0] == '#' || t[0] == ';') {
			continue
		}
		kept = append(kept, l...)
	}
	f, err := goini.LoadSources(goini.LoadOptions{
		IgnoreInlineComment:        true,
		InsensitiveKeys:            true,
		AllowPythonMultilineValues: true,
		SkipUnrecognizableLines:    true,
		// configparser keeps quotes around a value; ini.v1 strips them
		// unless told not to
		PreserveSurroundedQuote: true,
		// nor does it join lines ending in a backslash
		IgnoreContinuation: true,
	}, kept)
	if err != nil {
		return nil, fmt.Errorf("parse ini: %w", err)
	}
	return f, nil
}

// HasSection reports whether [name] is in src (exact name, as configparser).
func HasSection(src []byte, name string) bool {
	d, err := parse(src)
	if err != nil {
		return false
	}
	for _, s := range d.sections {
		if s.name == name {
			return true
		}
	}
	return false
}
