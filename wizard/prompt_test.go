package wizard

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/huh"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/muesli/termenv"
)

// The line Prompter takes one line per question (none eats the next
// answer), keeps defaults on an empty line, and says when input ran out.
func TestLinePrompter(t *testing.T) {
	var out bytes.Buffer
	p := NewPrompter(Options{In: strings.NewReader("\nsecret\ny\n"), Out: &out, Accessible: true}, false)
	ctx := context.Background()
	if v, err := p.Input(ctx, Ask{Title: "User", Default: "root"}); err != nil || v != "root" {
		t.Fatalf("input: %q %v", v, err)
	}
	if v, err := p.Password(ctx, Ask{Title: "Password"}); err != nil || string(v) != "secret" {
		t.Fatalf("password: %q %v", v, err)
	}
	if v, err := p.Confirm(ctx, Ask{Title: "Trust it?"}); err != nil || !v {
		t.Fatalf("confirm: %v %v", v, err)
	}
	if _, err := p.Input(ctx, Ask{Title: "More"}); err == nil || !strings.Contains(err.Error(), "input ended") {
		t.Fatalf("after EOF: %v", err)
	}
	if !strings.Contains(out.String(), "User [root]") || !strings.Contains(out.String(), "Trust it? [y/N]") {
		t.Fatalf("prompts:\n%s", out.String())
	}
}

// The no-prompt Prompter never reads: it names how to give the answer and
// is bad input.
func TestNoPrompter(t *testing.T) {
	p := NewPrompter(Options{In: strings.NewReader("y\n")}, true)
	_, err := p.Confirm(context.Background(), Ask{Title: "Apply?", Given: "--yes"})
	var mi *MissingInputError
	if !errors.As(err, &mi) || !mi.BadInput() || !strings.Contains(mi.Hint(), "--yes") {
		t.Fatalf("%v", err)
	}
	if _, err := p.Password(context.Background(), Ask{Title: "pw", Given: "PW_ENV"}); err == nil {
		t.Fatal("password asked")
	}
}

// Under NO_COLOR the chosen button of a yes/no question is still visible:
// the buttons read differently before and after a key moves the choice.
func TestConfirmButtonsWithoutColour(t *testing.T) {
	prev := lipgloss.ColorProfile()
	lipgloss.SetColorProfile(termenv.Ascii)
	t.Cleanup(func() { lipgloss.SetColorProfile(prev) })
	v := true
	f := huh.NewForm(huh.NewGroup(huh.NewConfirm().Title("Apply?").Value(&v))).WithTheme(Theme()).WithWidth(80)
	f.Init()
	before := ansi.Strip(f.View())
	if strings.Contains(f.View(), "\x1b[") {
		t.Fatalf("colour codes under NO_COLOR: %q", f.View())
	}
	f.Update(tea.KeyMsg{Type: tea.KeyLeft})
	after := ansi.Strip(f.View())
	if before == after || !strings.Contains(before, "› Yes") || !strings.Contains(after, "› No") || strings.Contains(after, "› Yes") {
		t.Fatalf("buttons look alike:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// The TUI Prompter draws a one-question form and takes the keys: y
// answers a yes/no question, typed text and enter an input.
func TestTUIPrompter(t *testing.T) {
	in, inw := io.Pipe()
	var out syncBuf
	p := NewPrompter(Options{In: in, Out: &out, Width: 80}, false)
	go func() {
		waitBuf(t, &out, "Trust this host key?")
		_, _ = inw.Write([]byte("y"))
	}()
	ok, err := p.Confirm(context.Background(), Ask{Title: "Trust this host key?"})
	if err != nil || !ok {
		t.Fatalf("confirm: %v %v\n%s", ok, err, out.String())
	}
	inw.Close()
	// A pipe's reader cannot be cancelled (a terminal's can): each program
	// here gets its own input.
	in, inw = io.Pipe()
	p = NewPrompter(Options{In: in, Out: &out, Width: 80}, false)
	go func() {
		waitBuf(t, &out, "Passphrase for id_ed25519")
		_, _ = inw.Write([]byte("s3cret\r"))
	}()
	pw, err := p.Password(context.Background(), Ask{Title: "Passphrase for id_ed25519"})
	if err != nil || string(pw) != "s3cret" || strings.Contains(out.String(), "s3cret") {
		t.Fatalf("password: %q %v\n%s", pw, err, out.String())
	}
	inw.Close()
}
