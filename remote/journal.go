package remote

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// The journal is the history of what cmtls did to one file, kept beside it
// as <file>.cmtls-journal (mode 0600; named like the backups,
// <file>.cmtls-<time>.bak), one tab-separated line per write, appended by
// the same remote command that renames the new bytes into place:
//
//	v1 <kind> <RFC 3339 UTC time, with fractional seconds> <run id> <sha256 before> <sha256 written> <dir made> <before-image>
//
// kind is "change" (a run wrote the file) or "restore" (a rollback undid
// the most recent change not yet undone: changes and restores pair up like
// pushes and pops of a stack). sha256 before is "-" when there was no file;
// sha256 written is "-" when a restore removed the file; dir made is the
// top-most directory created for the file ("-": none); before-image is the
// backup holding the replaced bytes ("-": none). For a restore, before-image
// is the copy of what the restore replaced (the edited file, when it was
// forced over an edit).

const journalVersion = "v1"

// JournalPath is the journal of the file at p.
func JournalPath(p string) string { return p + ".cmtls-journal" }

// JournalEntry is one line of a journal.
type JournalEntry struct {
	Restore    bool      // a restore; false: a change
	Time       time.Time // when the remote command ran (the controller's clock)
	RunID      string
	Before     string // SHA-256 (hex) of the replaced bytes; "" = no file was there
	Written    string // SHA-256 (hex) of what was written; "" = the file was removed
	MadeDir    string // top-most directory created for the file; ""
	BeforePath string // the backup of the replaced bytes; ""
}

var hexSHA256 = regexp.MustCompile(`^[0-9a-f]{64}$`)

// ParseJournal reads a journal. A last line without its newline (a write
// cut off) is ignored; any other malformed line is an error, so that a
// damaged history is never half-trusted.
func ParseJournal(b []byte) ([]JournalEntry, error) {
	text := string(b)
	if i := strings.LastIndexByte(text, '\n'); i < len(text)-1 {
		text = text[:i+1]
	}
	var out []JournalEntry
	for n, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		if line == "" {
			continue
		}
		e, err := parseJournalLine(line)
		if err != nil {
			return nil, fmt.Errorf("journal line %d: %w", n+1, err)
		}
		out = append(out, e)
	}
	return out, nil
}

func parseJournalLine(line string) (JournalEntry, error) {
	f := strings.Split(line, "\t")
	if len(f) != 8 || f[0] != journalVersion {
		return JournalEntry{}, fmt.Errorf("not a %s line of 8 fields", journalVersion)
	}
	var e JournalEntry
	switch f[1] {
	case "change":
	case "restore":
		e.Restore = true
	default:
		return e, fmt.Errorf("unknown kind %q", f[1])
	}
	t, err := time.Parse(time.RFC3339, f[2])
	if err != nil {
		return e, fmt.Errorf("bad time %q", f[2])
	}
	e.Time = t
	if !validRunID(f[3]) {
		return e, fmt.Errorf("bad run id %q", f[3])
	}
	e.RunID = f[3]
	sums := []*string{&e.Before, &e.Written}
	for i, v := range f[4:6] {
		if v == "-" {
			continue
		}
		if !hexSHA256.MatchString(v) {
			return e, fmt.Errorf("bad sha256 %q", v)
		}
		*sums[i] = v
	}
	if e.Written == "" && !e.Restore {
		return e, fmt.Errorf("a change without the sha256 written")
	}
	for i, p := range []*string{&e.MadeDir, &e.BeforePath} {
		v := f[6+i]
		if v == "-" {
			continue
		}
		if !strings.HasPrefix(v, "/") {
			return e, fmt.Errorf("not an absolute path: %q", v)
		}
		*p = v
	}
	return e, nil
}

// Outstanding is the changes of a journal that no restore has undone,
// oldest first: the last one is what the next restore undoes. A restore
// with nothing left to undo is an error.
func Outstanding(entries []JournalEntry) ([]JournalEntry, error) {
	var stack []JournalEntry
	for i, e := range entries {
		if !e.Restore {
			stack = append(stack, e)
			continue
		}
		if len(stack) == 0 {
			return nil, fmt.Errorf("journal entry %d restores a change that is not there", i+1)
		}
		stack = stack[:len(stack)-1]
	}
	return stack, nil
}
