package wizard

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/huh"

	"github.com/cmtls/cmtls/steps/answers"
)

// saveTries bounds how often the user is asked for another path after
// declining to replace an existing file.
const saveTries = 3

// OfferSave asks whether to save the answers f holds, so that the same run
// can be repeated headless with --answers, and where (defaultPath first).
// An existing file is replaced only when the user says so; declining asks
// for another path. It returns the path written, or "" when the user chose
// not to save. The file is written by SaveAnswers (secrets as {env: NAME}).
func OfferSave(ctx context.Context, f *answers.File, defaultPath string, o Options) (string, error) {
	save, err := askYesNo(ctx, o, "Save these answers to repeat the run headless (--answers)?",
		"Secrets are not written: the file names environment variables to export instead.", true)
	if err != nil || !save {
		return "", err
	}
	path := defaultPath
	for range saveTries {
		if path, err = askLine(ctx, o, "Save the answers to", "A new file; an existing one is replaced only if you say so.",
			path, checkSavePath); err != nil {
			return "", err
		}
		if _, err := os.Lstat(path); err == nil {
			replace, err := askYesNo(ctx, o, path+" exists. Replace it?", "No asks for another path.", false)
			if err != nil {
				return "", err
			}
			if !replace {
				path = ""
				continue
			}
		}
		if err := SaveAnswers(f, path); err != nil {
			return "", err
		}
		return path, nil
	}
	fmt.Fprintln(o.out(), "The answers were not saved.")
	return "", nil
}

// checkSavePath refuses what cannot become the answers file: an empty
// path, a directory, a path whose directory does not exist.
func checkSavePath(p string) error {
	if strings.TrimSpace(p) == "" {
		return errors.New("give a file path")
	}
	if st, err := os.Stat(p); err == nil && st.IsDir() {
		return fmt.Errorf("%s is a directory: give a file path", p)
	}
	dir := filepath.Dir(p)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("directory %s does not exist", dir)
	}
	return nil
}

// askYesNo asks one yes/no question: a huh confirm, or a line prompt in
// accessible mode (empty keeps def).
func askYesNo(ctx context.Context, o Options, title, desc string, def bool) (bool, error) {
	if o.Accessible {
		hint := "[y/N]"
		if def {
			hint = "[Y/n]"
		}
		for range saveTries {
			line, err := readLine(ctx, o, fmt.Sprintf("%s\n%s %s: ", desc, title, hint))
			if err != nil {
				return false, err
			}
			switch strings.ToLower(line) {
			case "":
				return def, nil
			case "y", "yes":
				return true, nil
			case "n", "no":
				return false, nil
			}
			fmt.Fprintln(o.out(), "answer y or n")
		}
		return def, nil
	}
	v := def
	c := huh.NewConfirm().Title(title).Description(desc).Value(&v)
	if err := runField(ctx, o, c); err != nil {
		return false, err
	}
	return v, nil
}

// askLine asks for one line of text with a default and a check: a huh
// input, or a line prompt in accessible mode (asked again, up to
// saveTries, while the check refuses).
func askLine(ctx context.Context, o Options, title, desc, def string, check func(string) error) (string, error) {
	if o.Accessible {
		var last error
		for range saveTries {
			prompt := title
			if def != "" {
				prompt += " [" + def + "]"
			}
			line, err := readLine(ctx, o, desc+"\n"+prompt+": ")
			if err != nil {
				return "", err
			}
			if line == "" {
				line = def
			}
			if last = check(line); last == nil {
				return line, nil
			}
			fmt.Fprintf(o.out(), "%v\n", last)
		}
		return "", last
	}
	v := def
	in := huh.NewInput().Title(title).Description(desc).Value(&v).Validate(check)
	if err := runField(ctx, o, in); err != nil {
		return "", err
	}
	return v, nil
}

// readLine prints prompt and reads one line (without its newline), one
// byte at a time so that the next prompt gets the next line.
func readLine(ctx context.Context, o Options, prompt string) (string, error) {
	out := o.out()
	fmt.Fprint(out, prompt)
	var line string
	err := untilDone(ctx, o.in(), out, func() error {
		var err error
		line, err = bufio.NewReader(&lineReader{r: o.in()}).ReadString('\n')
		if err != nil && line == "" {
			return fmt.Errorf("read the answer: %w", err)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	fmt.Fprintln(out)
	return strings.TrimSpace(line), nil
}

// runField runs a one-field huh form on the wizard's terminal.
func runField(ctx context.Context, o Options, fl huh.Field) error {
	form := huh.NewForm(huh.NewGroup(fl)).WithShowHelp(true).WithTheme(Theme()).WithInput(o.in()).WithOutput(o.out())
	if o.Width > 0 {
		form = form.WithWidth(o.Width)
	}
	if o.Height > 0 {
		form = form.WithHeight(o.Height)
	}
	err := form.RunWithContext(ctx)
	if errors.Is(err, huh.ErrUserAborted) || errors.Is(err, tea.ErrProgramKilled) {
		return ErrAborted
	}
	if err != nil {
		return err
	}
	return ctx.Err()
}
