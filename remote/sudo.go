package remote

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
)

// How sudo behaves on a host, found once per connection by a probe.
type sudoMode int

const (
	sudoNoPassword    sudoMode = iota // NOPASSWD: sudo -n
	sudoPassword                      // sudo -S with the password on stdin
	sudoTTY                           // requiretty: a pty, the password typed at the prompt
	sudoTTYNoPassword                 // requiretty and NOPASSWD
)

// BecomeError is a sudo problem on a host: no password given when one is
// needed, a wrong password, or a user not allowed to sudo.
type BecomeError struct {
	Host string
	Msg  string
	Fix  string
}

func (e *BecomeError) Error() string { return fmt.Sprintf("host %s: sudo: %s", e.Host, e.Msg) }
func (e *BecomeError) Hint() string  { return e.Fix }

func newMarker() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "[cmtls-sudo-" + hex.EncodeToString(b) + "] password:"
}

// probeSudo finds out how sudo works on the host, the way pyinfra and
// Ansible do: `sudo -k -n true` tells NOPASSWD ("-k": a cached credential
// must not hide that a password is needed) from "a password is required"
// and from requiretty. A password is then checked once with a command
// that reads nothing else, so that a wrong one can never make sudo read
// later data as password retries.
func (h *sshHost) probeSudo(ctx context.Context) (sudoMode, error) {
	res, err := h.session(ctx, h.sudo()+"-k -n true", nil, false, nil)
	if err != nil {
		return 0, err
	}
	msg := strings.ToLower(string(res.Stderr) + string(res.Stdout))
	tty := strings.Contains(msg, "must have a tty") || strings.Contains(msg, "a terminal is required")
	switch {
	case res.Code == 0:
		return sudoNoPassword, nil
	case res.Code == 127 || strings.Contains(msg, "command not found"):
		return 0, &BecomeError{Host: h.name, Msg: "sudo is not installed", Fix: "install sudo on the host, or log in as root and remove agents.ssh.become"}
	case strings.Contains(msg, "not in the sudoers") || strings.Contains(msg, "may not run sudo") || strings.Contains(msg, "not allowed to"):
		return 0, &BecomeError{Host: h.name, Msg: "the login user may not use sudo: " + trimLines(res.Stderr), Fix: "give the user sudo rights on the host, or log in as root"}
	case tty:
		// requiretty: try without a password on a pty first
		r2, err := h.session(ctx, h.sudo()+"-k -n true", nil, true, nil)
		if err != nil {
			return 0, err
		}
		if r2.Code == 0 {
			return sudoTTYNoPassword, nil
		}
		if len(h.o.BecomePassword) == 0 {
			return 0, h.needPassword()
		}
		if err := h.checkPassword(ctx, true); err != nil {
			return 0, err
		}
		return sudoTTY, nil
	case strings.Contains(msg, "password is required") || strings.Contains(msg, "password"):
		if len(h.o.BecomePassword) == 0 {
			return 0, h.needPassword()
		}
		if err := h.checkPassword(ctx, false); err != nil {
			return 0, err
		}
		return sudoPassword, nil
	}
	return 0, &BecomeError{Host: h.name, Msg: fmt.Sprintf("unexpected answer from 'sudo -n true' (exit %d): %s", res.Code, trimLines(res.Stderr)), Fix: "run 'sudo -n true' on the host as the login user to see why"}
}

// sudo is the start of every sudo command line: "sudo ", with "-u USER "
// when commands run as a user other than root (Ansible's become_user).
func (h *sshHost) sudo() string {
	if u := h.o.BecomeUser; u != "" && u != "root" {
		return "sudo -u " + Quote(u) + " "
	}
	return "sudo "
}

func (h *sshHost) needPassword() error {
	return &BecomeError{Host: h.name, Msg: "a password is required", Fix: "set agents.ssh.become_password: {env: SUDO_PASSWORD}, or allow the user NOPASSWD in sudoers"}
}

// checkPassword runs `sudo -k -S true` with only the password on stdin.
func (h *sshHost) checkPassword(ctx context.Context, tty bool) error {
	var res *Result
	var err error
	if tty {
		res, err = h.session(ctx, h.sudo()+"-k -p "+Quote(h.marker)+" true", nil, true, h.typePassword)
	} else {
		in := append(append([]byte(nil), h.o.BecomePassword...), '\n')
		res, err = h.session(ctx, h.sudo()+"-k -S -p "+Quote(h.marker)+" true", bytes.NewReader(in), false, nil)
	}
	if err != nil {
		return err
	}
	if res.Code != 0 {
		msg := strings.ReplaceAll(string(res.Stderr)+string(res.Stdout), h.marker, "")
		if strings.Contains(msg, "incorrect password") || strings.Contains(msg, "Sorry, try again") || strings.Contains(msg, "no password was provided") {
			return &BecomeError{Host: h.name, Msg: "the password was refused", Fix: "check agents.ssh.become_password (the login user's password on the host)"}
		}
		return &BecomeError{Host: h.name, Msg: fmt.Sprintf("password check failed (exit %d): %s", res.Code, strings.TrimSpace(msg)), Fix: "run 'sudo -k true' on the host as the login user to see why"}
	}
	return nil
}

// typePassword writes the password once sudo's prompt (the random marker)
// shows on the terminal.
func (h *sshHost) typePassword(w io.Writer, seen []byte) bool {
	if !bytes.Contains(seen, []byte(h.marker)) {
		return false
	}
	_, _ = w.Write(append(append([]byte(nil), h.o.BecomePassword...), '\n'))
	return true
}

// runSudo runs cmd as root. The command is sh -c with the script as one
// argument; the password, when needed, is the first line of stdin (sudo -S
// reads it byte by byte up to the newline, so the rest of stdin is the
// command's), never part of a command line.
func (h *sshHost) runSudo(ctx context.Context, cmd string, stdin io.Reader) (*Result, error) {
	inner := "sh -c " + Quote(cmd)
	switch h.becomeMode {
	case sudoNoPassword:
		return h.session(ctx, h.sudo()+"-n -- "+inner, stdin, false, nil)
	case sudoPassword:
		pw := append(append([]byte(nil), h.o.BecomePassword...), '\n')
		var in io.Reader = bytes.NewReader(pw)
		if stdin != nil {
			in = io.MultiReader(in, stdin)
		}
		res, err := h.session(ctx, h.sudo()+"-k -S -p "+Quote(h.marker)+" -- "+inner, in, false, nil)
		if res != nil {
			res.Stderr = bytes.Replace(res.Stderr, []byte(h.marker), nil, 1)
		}
		return res, err
	}
	// requiretty: a pty cannot carry binary data, so stdin is first put in
	// a private temp file as the login user (no pty), and the command
	// reads it from there
	pre := ""
	if stdin != nil {
		r, err := h.session(ctx, `t=$(mktemp) && cat > "$t" && echo "$t"`, stdin, false, nil)
		if err != nil {
			return nil, err
		}
		if r.Code != 0 {
			return nil, &CommandError{Host: h.name, What: "stage input for sudo", Code: r.Code, Stderr: string(r.Stderr)}
		}
		tmp := strings.TrimSpace(string(r.Stdout))
		pre = "trap 'rm -f " + Quote(tmp) + "' EXIT; exec <" + Quote(tmp) + "; "
	}
	answer := h.typePassword
	sudo := h.sudo() + "-k -p " + Quote(h.marker) + " -- "
	if h.becomeMode == sudoTTYNoPassword {
		answer = nil
		sudo = h.sudo() + "-n -- "
	}
	res, err := h.session(ctx, pre+sudo+inner, nil, true, answer)
	if res != nil {
		res.Stdout = bytes.Replace(res.Stdout, []byte(h.marker), nil, 1)
	}
	return res, err
}
