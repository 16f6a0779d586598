package wizard

import (
	"fmt"
	"strings"
	"time"
)

// Closing is what the end of a run tells the operator to note in the
// change ticket: the certificate now in use, where the originals are kept
// and what to run next.
type Closing struct {
	// Certificate in use on the server ("" when not known).
	Subject  string
	SHA256   string
	NotAfter time.Time
	// Backups are the files or patterns that hold what was there before.
	Backups []string
	// Next are commands to run next, each with why.
	Next []NextCommand
}

// NextCommand is a command the operator may run next.
type NextCommand struct{ Command, Why string }

// Text renders the closing lines, wrapped to width columns (80 when 0).
func (c Closing) Text(width int, now time.Time) string {
	if width <= 0 {
		width = 80
	}
	var b strings.Builder
	line := func(s string) { b.WriteString(wrapText(s, width) + "\n") }
	if c.Subject != "" {
		line("Certificate: " + c.Subject)
		line("  SHA-256 " + c.SHA256)
		if !c.NotAfter.IsZero() {
			days := int(c.NotAfter.Sub(now).Hours() / 24)
			when := fmt.Sprintf("in %d days", days)
			if c.NotAfter.Before(now) {
				when = "EXPIRED"
			}
			line(fmt.Sprintf("  expires %s (%s)", c.NotAfter.UTC().Format("2006-01-02 15:04 MST"), when))
		}
	}
	if len(c.Backups) > 0 {
		line("Backups of what was there before:")
		for _, p := range c.Backups {
			line("  " + p)
		}
	}
	if len(c.Next) > 0 {
		line("Next:")
		for _, n := range c.Next {
			line("  " + n.Command)
			if n.Why != "" {
				line("      " + n.Why)
			}
		}
	}
	return b.String()
}
