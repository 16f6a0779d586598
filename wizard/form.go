package wizard

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/huh"
	"github.com/charmbracelet/x/term"

	"github.com/cmtls/cmtls/remote/cmapi"
	"github.com/cmtls/cmtls/steps/answers"
)

// Form is the wizard's questions for one command as a huh form. The user
// answers into the form; Commit then writes the answers into the file.
// Tests drive Form.Form with Update or teatest.
type Form struct {
	Form *huh.Form

	orig     *answers.File
	qs       []*question // the questions asked: those the file lacks
	validate func(*answers.File) error
	o        Options
	d        Discovered
	// notes say why questions one might expect are not asked.
	notes []string

	// ctx bounds the API check while the form runs.
	ctx context.Context
	// back is set while the user goes back (shift+tab): validators let an
	// empty or wrong answer pass, so going back never traps the form; the
	// answer is checked again on the way forward and at the end.
	back bool
	// apiChecked caches the API check per URL, user and password, so an
	// answer is tried once; apiHosts are the hosts the check listed.
	apiChecked map[string]error
	apiHosts   []string
}

// NewInitForm builds the form of `cmtls init` for the answers f lacks. It
// has no groups when f already answers everything.
func NewInitForm(f *answers.File, d Discovered, o Options) *Form {
	return newForm(f, initQuestions(d), (*answers.File).ValidateInit, o, d)
}

// NewSAMLForm builds the form of `cmtls saml configure`.
func NewSAMLForm(f *answers.File, d Discovered, o Options) *Form {
	return newForm(f, samlQuestions(d), (*answers.File).ValidateSAML, o, d)
}

func newForm(f *answers.File, all []*question, validate func(*answers.File) error, o Options, d Discovered) *Form {
	w := &Form{orig: f, validate: validate, o: o, d: d, ctx: context.Background(), apiChecked: map[string]error{}}
	for _, q := range all {
		if q.missing(f) {
			q.input = q.val
			w.qs = append(w.qs, q)
			continue
		}
		if q.load != nil {
			q.val = q.load(f)
		}
		if q.skipNote != nil {
			if n := q.skipNote(f); n != "" {
				w.notes = append(w.notes, n)
			}
		}
	}
	w.Form = w.huhForm(0, len(w.qs))
	return w
}

// huhForm is the huh form of questions [from, to): one group per question,
// hidden while the question does not apply.
func (w *Form) huhForm(from, to int) *huh.Form {
	var groups []*huh.Group
	for i := from; i < to; i++ {
		fields := []huh.Field{w.field(i, false)}
		if i == 0 && len(w.notes) > 0 {
			// Shown above the first question: what is not asked, and why.
			fields = append([]huh.Field{huh.NewNote().Title("Not asked").Description(strings.Join(w.notes, "\n"))}, fields...)
		}
		g := huh.NewGroup(fields...)
		if rel := w.qs[i].relevant; rel != nil {
			g = g.WithHideFunc(func() bool { return !rel() })
		}
		groups = append(groups, g)
	}
	f := huh.NewForm(groups...).WithShowHelp(true).WithTheme(Theme()).WithInput(w.o.in()).WithOutput(w.o.out())
	if w.o.Width > 0 {
		f = f.WithWidth(w.o.Width)
	}
	if w.o.Height > 0 {
		f = f.WithHeight(w.o.Height)
	}
	return f
}

// Notes are what the form says about questions it does not ask.
func (w *Form) Notes() []string { return w.notes }

// Paths lists the answers-file paths of the questions this form asks.
func (w *Form) Paths() []string {
	var out []string
	for _, q := range w.qs {
		out = append(out, q.path)
	}
	return out
}

// field builds the huh field of question i. accessible builds the line
// prompt variant: static options, hosts as one line, and a visible password
// when the input is not a terminal (there is no echo to turn off).
func (w *Form) field(i int, accessible bool) huh.Field {
	q := w.qs[i]
	validate := w.validator(i, accessible)
	title := q.title
	if accessible {
		// Line prompts do not show the value an empty answer keeps.
		if d := q.shownDefault(); d != "" {
			title += " [" + d + "]"
		}
	}
	switch q.kind {
	case kindPassword:
		in := huh.NewInput().Title(title).Value(&q.val).Validate(validate)
		if !accessible {
			in = in.EchoMode(huh.EchoModePassword)
		}
		if q.desc != "" {
			in = in.Description(q.desc)
		}
		return in
	case kindSelect:
		s := huh.NewSelect[string]().Title(title).Value(&q.val)
		if !accessible {
			// huh's line select asks again forever while its validator
			// fails, even at the end of input; runAccessible checks after.
			s = s.Validate(validate)
		}
		if q.desc != "" {
			s = s.Description(q.desc)
		}
		switch {
		case q.optionsFn != nil && !accessible:
			fn := q.optionsFn
			s = s.OptionsFunc(func() []huh.Option[string] { return huh.NewOptions(fn()...) }, q.dep)
		case q.optionsFn != nil:
			opts := q.optionsFn()
			if !contains(opts, q.val) {
				q.val = opts[0]
			}
			s = s.Options(huh.NewOptions(opts...)...)
		default:
			s = s.Options(huh.NewOptions(q.options...)...)
		}
		return s
	case kindText:
		if accessible {
			return huh.NewInput().Title(title).Description(q.desc).Value(&q.val).Validate(validate)
		}
		return huh.NewText().Title(title).Description(q.desc).Value(&q.val).Validate(validate).Lines(4)
	case kindConfirm:
		c := huh.NewConfirm().Title(title).Value(&q.bval)
		if q.desc != "" {
			c = c.Description(q.desc)
		}
		return c
	case kindHosts:
		if len(q.options) > 0 && !accessible {
			m := huh.NewMultiSelect[string]().Title(title).Description(q.desc).
				Options(huh.NewOptions(q.options...)...).Value(&q.list).
				Validate(func(l []string) error { return validate(strings.Join(l, "\n")) })
			return m
		}
		if accessible {
			q.list = nil
			return huh.NewInput().Title(title).Description(q.desc).Value(&q.val).Validate(validate)
		}
		return huh.NewText().Title(title).Description(q.desc).Value(&q.val).Validate(validate).Lines(5)
	}
	in := huh.NewInput().Title(title).Value(&q.val).Validate(validate)
	if q.desc != "" {
		in = in.Description(q.desc)
	}
	if q.placeholder != nil {
		in = in.PlaceholderFunc(q.placeholder, q.dep)
	}
	return in
}

// shownDefault is what an empty answer means, for line prompts.
func (q *question) shownDefault() string {
	switch q.kind {
	case kindPassword, kindConfirm:
		return "" // confirm prompts show y/N themselves
	}
	if v := strings.TrimSpace(q.val); v != "" {
		return v
	}
	if q.placeholder != nil {
		return q.placeholder()
	}
	return ""
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// validator is question i's huh validator: the wizard's own check, then the
// answers file's validation (the headless rules) on a file holding the
// answers so far and this candidate, keeping the messages about this field.
func (w *Form) validator(i int, accessible bool) func(string) error {
	q := w.qs[i]
	return func(v string) error {
		if w.back {
			return nil
		}
		if accessible && strings.TrimSpace(v) == "<" {
			// line prompts have no shift+tab: "<" goes back a question
			w.back = true
			return nil
		}
		v = strings.TrimSpace(v)
		if v == "" && accessible {
			// Accessible prompts hand "" for "keep the default".
			v = strings.TrimSpace(q.input)
		}
		if v == "" && q.placeholder != nil {
			v = q.placeholder()
		}
		if v == "" && q.optional {
			return nil
		}
		if q.check != nil {
			if err := q.check(v); err != nil {
				return err
			}
		}
		f, err := w.build(i, v)
		if err != nil {
			return err
		}
		f.ApplyDefaults()
		if err := matchErr(w.validate(f), q.match); err != nil {
			return err
		}
		if q.checksAPI && f.Server != nil && f.Server.API != nil {
			return w.checkAPI(*f.Server.API)
		}
		return nil
	}
}

// checkAPI tries the CM API credentials typed so far: the hosts lookup
// when the form has one (its answer is kept for the hosts question), else
// the caller's check. A refusal (401/403) stays an error, so the user
// retypes the password or goes back (shift+tab) to the user or URL; any
// other failure (CM not reachable from here) is shown once and the same
// answer given again goes on unchecked.
func (w *Form) checkAPI(a answers.API) error {
	if w.d.LookupHosts == nil && w.d.CheckAPI == nil {
		return nil
	}
	sum := sha256.Sum256(a.Password.Value())
	k := a.URL + "\x00" + a.User + "\x00" + hex.EncodeToString(sum[:])
	err, seen := w.apiChecked[k]
	if !seen {
		ctx, cancel := context.WithTimeout(w.ctx, lookupTimeout)
		defer cancel()
		if w.d.LookupHosts != nil {
			var hosts []string
			hosts, err = w.d.LookupHosts(ctx, a)
			// the hosts of these answers only: none kept from an earlier URL
			w.apiHosts = nil
			if err == nil {
				w.apiHosts = hosts
			}
		} else {
			err = w.d.CheckAPI(ctx, a)
		}
		w.apiChecked[k] = err
		if err != nil && !refused(err) {
			return fmt.Errorf("could not check the credentials at %s (%v): enter again to go on unchecked, or %s to fix the URL", a.URL, err, w.backKey())
		}
	}
	if err != nil && refused(err) {
		return fmt.Errorf("CM refused user %s with this password (%v): retype it, or %s to fix the user or URL", a.User, err, w.backKey())
	}
	return nil
}

// backKey is how the user goes back a question.
func (w *Form) backKey() string {
	if w.o.Accessible {
		return "type < to go back"
	}
	return "shift+tab"
}

// refused reports whether err is the API refusing the credentials (HTTP
// 401 or 403), as opposed to not being reached.
func refused(err error) bool {
	var ae *cmapi.APIError
	return errors.As(err, &ae) && (ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden)
}

// build applies the answers of the questions up to i (all when i < 0) onto
// a copy of the original file; question i takes cand.
func (w *Form) build(i int, cand string) (*answers.File, error) {
	n := len(w.qs)
	if i >= 0 {
		n = i + 1
	}
	return w.buildN(n, i, cand)
}

// buildN applies the answers of the first n questions onto a copy of the
// original file; question i (if among them) takes cand.
func (w *Form) buildN(n, i int, cand string) (*answers.File, error) {
	f := clone(w.orig)
	for j, q := range w.qs[:n] {
		if j != i && q.relevant != nil && !q.relevant() {
			continue
		}
		v := q.value()
		if j == i {
			v = cand
		}
		if v == "" && q.optional {
			continue
		}
		if err := q.set(f, v); err != nil {
			if j == i {
				return f, err
			}
			return f, fmt.Errorf("%s: %w", q.path, err)
		}
	}
	return f, nil
}

// Commit writes the answers into the file the form was built for, applies
// the defaults and runs the command's validation (the headless rules).
func (w *Form) Commit() error {
	f, err := w.build(-1, "")
	if err != nil {
		return &answers.Error{Msg: err.Error(), Fix: "answer the question again"}
	}
	f.ApplyDefaults()
	if err := w.validate(f); err != nil {
		return err
	}
	*w.orig = *f
	return nil
}

// FillInit asks only for the answers f lacks (an answers file or flags that
// give a value skip its question), with the validators of the headless path,
// and writes them into f. f is left with its defaults applied and valid for
// init, or an error (exit 2) says what is not. It returns ErrAborted when the
// user leaves the form.
//
// With d.LookupHosts set and no d.Hosts, the questions before the agent
// hosts are asked first; then the CM API the user named is asked for its
// hosts, and they are offered as a multi-select (typed when the lookup
// fails).
func FillInit(ctx context.Context, f *answers.File, d Discovered, o Options) error {
	if f == nil {
		return errors.New("wizard: FillInit needs an answers file to fill (at least &answers.File{Version: 1})")
	}
	w := NewInitForm(f, d, o)
	k, split := -1, -1
	for i, q := range w.qs {
		switch q.path {
		case "agents.hosts":
			k = i
		case "agents.from_api":
			split = i
		}
	}
	if split < 0 || split > k {
		split = k
	}
	if d.LookupHosts == nil || len(d.Hosts) > 0 || k < 0 {
		return w.run(ctx, o)
	}
	// The questions up to the hosts' source first; then the hosts the
	// CM API knows are offered.
	if err := w.runPart(ctx, 0, split); err != nil {
		return err
	}
	w.lookupHosts(ctx, k, d.LookupHosts)
	k = split
	if err := w.runPart(ctx, k, len(w.qs)); err != nil {
		return err
	}
	return w.Commit()
}

// lookupHosts asks the CM API (as answered so far) for its hosts and makes
// question k offer them.
func (w *Form) lookupHosts(ctx context.Context, k int, lookup func(context.Context, answers.API) ([]string, error)) {
	f, err := w.buildN(k, -1, "")
	if err == nil {
		f.ApplyDefaults()
	}
	if err != nil || f.Server == nil || f.Server.API == nil {
		return
	}
	hosts := w.apiHosts
	if len(hosts) == 0 {
		lctx, cancel := context.WithTimeout(ctx, lookupTimeout)
		defer cancel()
		fmt.Fprintf(w.o.out(), "Asking %s for its hosts…\n", f.Server.API.URL)
		hosts, err = lookup(lctx, *f.Server.API)
	}
	if err != nil || len(hosts) == 0 {
		if err == nil {
			err = errors.New("it lists no hosts")
		}
		fmt.Fprintf(w.o.out(), "Could not list the hosts from the CM API (%v); type them instead.\n", err)
		return
	}
	offerHosts(w.qs[k], hosts, w.o.Accessible)
}

// lookupTimeout bounds the hosts lookup: the wizard waits on it.
const lookupTimeout = 10 * time.Second

// FillSAML is FillInit for `cmtls saml configure`.
func FillSAML(ctx context.Context, f *answers.File, d Discovered, o Options) error {
	if f == nil {
		return errors.New("wizard: FillSAML needs an answers file to fill (at least &answers.File{Version: 1})")
	}
	return NewSAMLForm(f, d, o).run(ctx, o)
}

func (w *Form) run(ctx context.Context, o Options) error {
	if err := w.runPart(ctx, 0, len(w.qs)); err != nil {
		return err
	}
	return w.Commit()
}

// runPart asks questions [from, to).
func (w *Form) runPart(ctx context.Context, from, to int) error {
	if from >= to {
		return nil
	}
	w.ctx = ctx
	defer func() { w.ctx = context.Background() }()
	var err error
	if w.o.Accessible {
		err = w.runAccessible(ctx, w.o, from, to)
	} else {
		form := w.Form
		if from != 0 || to != len(w.qs) {
			form = w.huhForm(from, to)
		}
		err = w.runTUI(ctx, form)
	}
	if err != nil {
		return err
	}
	return ctx.Err()
}

// runTUI runs a huh form in a program of its own, through Model's key
// handling (shift+tab never traps).
func (w *Form) runTUI(ctx context.Context, form *huh.Form) error {
	form.SubmitCmd = tea.Quit
	form.CancelCmd = tea.Interrupt
	p := tea.NewProgram(w.model(form), tea.WithContext(ctx), tea.WithInput(w.o.in()), tea.WithOutput(w.o.out()))
	_, err := p.Run()
	switch {
	case form.State == huh.StateAborted, errors.Is(err, tea.ErrInterrupted), errors.Is(err, tea.ErrProgramKilled):
		return ErrAborted
	case err != nil:
		return fmt.Errorf("form: %w", err)
	}
	return nil
}

// Model is the form as a Bubble Tea model for tests and callers that run
// their own program: Form.Form with the wizard's key handling.
func (w *Form) Model() tea.Model { return w.model(w.Form) }

func (w *Form) model(f *huh.Form) tea.Model { return &formModel{w: w, f: f} }

// formModel passes everything to the huh form; shift+tab (back) first
// switches the validators off until the next other key, because huh
// validates the field it leaves and refuses to go back from one with an
// error: an empty required field would hold the user there.
type formModel struct {
	w *Form
	f *huh.Form
}

func (m *formModel) Init() tea.Cmd { return m.f.Init() }

func (m *formModel) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if k, ok := msg.(tea.KeyMsg); ok {
		m.w.back = k.Type == tea.KeyShiftTab
	}
	nm, cmd := m.f.Update(msg)
	if f, ok := nm.(*huh.Form); ok {
		m.f = f
	}
	return m, cmd
}

func (m *formModel) View() string { return m.f.View() }

// runAccessible asks question by question with plain line prompts. huh's own
// accessible run asks hidden groups too and lets each field buffer stdin, so
// a piped answer meant for the next question is lost; this runner skips what
// is not relevant and hands every prompt exactly one line.
func (w *Form) runAccessible(ctx context.Context, o Options, from, to int) error {
	out, in := o.out(), o.in()
	lr := &lineReader{r: in}
	tty := false
	if fd, ok := in.(interface{ Fd() uintptr }); ok && term.IsTerminal(fd.Fd()) {
		tty = true
	}
	if from == 0 {
		for _, n := range w.notes {
			fmt.Fprintln(out, "Note: "+n)
		}
	}
	if to > from {
		fmt.Fprintln(out, "(type < to go back to the previous question)")
	}
	for i := from; i < to; i++ {
		q := w.qs[i]
		if q.relevant != nil && !q.relevant() {
			continue
		}
		kept := q.val
		if lr.eof {
			return fmt.Errorf("input ended before %q was answered (%s in the answers file)", q.title, q.path)
		}
		if q.desc != "" {
			fmt.Fprintln(out, q.desc)
		}
		fl := w.field(i, true)
		var r io.Reader = lr
		if q.kind == kindPassword {
			if tty {
				r = in // read without echo
				fl = huh.NewInput().Title(q.title).Value(&q.val).Validate(w.validator(i, true)).EchoMode(huh.EchoModePassword)
			} else {
				fmt.Fprintln(out, "(input is not a terminal: the answer is read as typed)")
			}
		}
		before := lr.n
		fl.Init()
		fl.Focus()
		if err := untilDone(ctx, in, out, func() error { return fl.RunAccessible(out, r) }); err != nil {
			if errors.Is(err, ErrAborted) {
				return err
			}
			return fmt.Errorf("%s: %w", q.path, err)
		}
		fmt.Fprintln(out)
		if w.back {
			// "<": this answer stays as it was; ask the previous
			// question that applies again
			w.back = false
			q.val = kept
			j := i - 1
			for j >= from && w.qs[j].relevant != nil && !w.qs[j].relevant() {
				j--
			}
			if j < from {
				j = i // nothing before it here: ask it again
			}
			i = j - 1
			continue
		}
		if lr.eof && lr.n == before {
			return fmt.Errorf("input ended before %q was answered (%s in the answers file)", q.title, q.path)
		}
		// The prompt returns the default on an empty line; the validator
		// already ran on what was typed. Run it again on the final value:
		// a default can be invalid too (e.g. an empty host).
		if q.kind != kindConfirm {
			if err := w.validator(i, false)(q.val); err != nil {
				return fmt.Errorf("%s: %w", q.path, err)
			}
		}
	}
	return nil
}

// untilDone runs a blocking line prompt, and returns ErrAborted as soon as
// ctx ends (Ctrl-C is a signal in line mode, and a read of the terminal
// cannot be interrupted). The prompt's goroutine is left blocked on its
// read; the command is ending. A password prompt turns echo off: the
// terminal's state is put back.
func untilDone(ctx context.Context, in io.Reader, out io.Writer, prompt func() error) error {
	var fd uintptr
	var state *term.State
	if f, ok := in.(interface{ Fd() uintptr }); ok && term.IsTerminal(f.Fd()) {
		fd = f.Fd()
		state, _ = term.GetState(fd)
	}
	done := make(chan error, 1)
	go func() {
		defer func() {
			// huh's line prompts index their options with what was read;
			// input that ends mid-prompt must not crash the command.
			if r := recover(); r != nil {
				done <- fmt.Errorf("the answer could not be read (input ended?): %v", r)
			}
		}()
		done <- prompt()
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		if state != nil {
			_ = term.Restore(fd, state)
		}
		fmt.Fprintln(out)
		return ErrAborted
	}
}

// lineReader hands out at most one line per Read, so that each prompt's
// bufio.Scanner takes its own line and leaves the rest for the next one.
type lineReader struct {
	r   io.Reader
	n   int
	eof bool
}

func (l *lineReader) Read(p []byte) (int, error) {
	if l.r == nil {
		l.eof = true
		return 0, io.EOF
	}
	n := 0
	var b [1]byte
	for n < len(p) {
		m, err := l.r.Read(b[:])
		if m == 1 {
			p[n] = b[0]
			n++
			l.n++
			if b[0] == '\n' {
				return n, nil
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				l.eof = true
			}
			return n, err
		}
	}
	return n, nil
}
