package changereport

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Write writes r to path in format f, atomically (a temporary file in the
// same directory, then rename) and with mode 0600: the record names hosts
// and paths.
func Write(path string, f Format, r *Report) error {
	var data []byte
	switch f {
	case JSON:
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			return err
		}
		data = b.Bytes()
	case Markdown:
		data = []byte(r.Markdown())
	default:
		return fmt.Errorf("unknown report format %q", f)
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write the report: %w", err)
	}
	name := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			_ = os.Remove(name)
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("write the report: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("write the report: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("write the report: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write the report: %w", err)
	}
	if err := os.Rename(name, path); err != nil {
		return fmt.Errorf("write the report: %w", err)
	}
	ok = true
	return nil
}

// Markdown renders the record for a ticket.
func (r *Report) Markdown() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("# cmtls change record\n\n")
	p("| | |\n|---|---|\n")
	p("| Command | `%s` |\n", cell(r.Command))
	p("| Started | %s |\n", stamp(r.Started))
	p("| Finished | %s |\n", stamp(r.Finished))
	p("| Run by | %s |\n", cell(r.User))
	p("| Outcome | %s |\n", cell(r.Outcome))
	p("| Exit code | %d |\n", r.ExitCode)
	if r.Error != "" {
		p("| Error | %s |\n", cell(r.Error))
	}
	if r.Hint != "" {
		p("| Hint | %s |\n", cell(r.Hint))
	}
	p("| Undo | %s |\n", code(r.Undo))
	p("\n")
	if !r.Changed {
		p("**Nothing was changed.**")
		if r.DryRun {
			p(" This was a dry run: the changes below are what a run would make.")
		}
		p("\n\n")
	}

	p("## Certificate\n\n")
	if c := r.Certificate; c != nil {
		p("| | |\n|---|---|\n")
		if c.Source != "" {
			p("| Read from | %s |\n", cell(c.Source))
		}
		p("| Subject | %s |\n", cell(c.Subject))
		p("| Issuer | %s |\n", cell(c.Issuer))
		p("| SANs | %s |\n", cell(strings.Join(c.SANs, ", ")))
		p("| SHA-256 | `%s` |\n", c.SHA256)
		p("| Valid from | %s |\n", stamp(c.NotBefore))
		p("| Expires | %s |\n\n", stamp(c.NotAfter))
	} else {
		note := r.CertNote
		if note == "" {
			note = "not read"
		}
		p("%s\n\n", note)
	}

	p("## Hosts\n\n")
	if len(r.Hosts) == 0 {
		p("No host was planned or changed.\n\n")
	}
	for _, h := range r.Hosts {
		p("### %s", h.Name)
		if h.Status != "" {
			p(" (%s)", h.Status)
		}
		p("\n\n")
		if h.Error != "" {
			p("- Error: %s\n", strings.ReplaceAll(h.Error, "\n", "\n  "))
		}
		if h.Hint != "" {
			p("- Hint: %s\n", h.Hint)
		}
		if h.Note != "" {
			p("- Note: %s\n", h.Note)
		}
		if h.Error != "" || h.Hint != "" || h.Note != "" {
			p("\n")
		}
		if len(h.Changes) > 0 {
			p("| Step | Kind | Target | Old | New | State |\n|---|---|---|---|---|---|\n")
			for _, c := range h.Changes {
				nw := c.New
				if c.Note != "" {
					nw = strings.TrimSpace(nw + " (" + c.Note + ")")
				}
				p("| %s | %s | %s | %s | %s | %s |\n", cell(c.Step), cell(c.Kind), cell(c.Target), cell(orNone(c.Old)), cell(orNone(nw)), cell(c.State))
			}
			p("\n")
		} else {
			p("No change planned.\n\n")
		}
		list := func(title string, items []string) {
			if len(items) == 0 {
				return
			}
			p("%s:\n\n", title)
			for _, it := range items {
				p("- %s\n", it)
			}
			p("\n")
		}
		list("Backups", h.Backups)
		list("Verification", h.Evidence)
		list("Warnings", h.Warnings)
	}
	if len(r.Steps) > 0 {
		p("## Steps\n\n| Step | Status | Error |\n|---|---|---|\n")
		for _, s := range r.Steps {
			p("| %s | %s | %s |\n", cell(s.Step), cell(string(s.Status)), cell(s.Error))
		}
		p("\n")
	}
	if len(r.Notes) > 0 {
		p("## Notes\n\n")
		for _, n := range r.Notes {
			p("- %s\n", n)
		}
		p("\n")
	}
	return strings.TrimRight(b.String(), "\n") + "\n"
}

// cell makes s safe inside a Markdown table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	s = strings.ReplaceAll(s, "\r", "")
	return strings.ReplaceAll(s, "\n", "<br>")
}

// code shows a command as code, and a remark after it, "(...)", as text.
func code(s string) string {
	if !strings.HasPrefix(s, "cmtls ") {
		return cell(s)
	}
	cmd, why, ok := strings.Cut(s, " (")
	if !ok {
		return "`" + cell(s) + "`"
	}
	return "`" + cell(cmd) + "` (" + cell(why)
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}
