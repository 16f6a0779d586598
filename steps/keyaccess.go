package steps

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/cmtls/cmtls/pki"
	"github.com/cmtls/cmtls/remote"
	"github.com/cmtls/cmtls/steps/answers"
)

// keystoreAccessScript answers, on the CM server, whether user $1 can read
// file $2: "yes" or "no" from test -r run as that user (directly, through
// su as root, or through sudo -n), else "stat OWNER GROUP MODE GROUPS..."
// for a judgement from the file's owner, group and mode; "nouser" when the
// account does not exist.
const keystoreAccessScript = `u="$1"; p="$2"
id -u "$u" >/dev/null 2>&1 || { echo nouser; exit 0; }
if [ "$(id -un)" = "$u" ]; then if test -r "$p"; then echo yes; else echo no; fi; exit 0; fi
if [ "$(id -u)" = 0 ]; then if su -s /bin/sh "$u" -c 'test -r "$1"' sh "$p" 2>/dev/null; then echo yes; else echo no; fi; exit 0; fi
if sudo -n -u "$u" true 2>/dev/null; then if sudo -n -u "$u" test -r "$p"; then echo yes; else echo no; fi; exit 0; fi
echo stat $(stat -c '%U %G %a' -- "$p" 2>/dev/null || echo - - 0) $(id -Gn "$u")`

// serverUserScript prints the owner of the running CM server process
// (com.cloudera.server.cmf.Main; the bracket keeps the shell running
// this script from matching itself), else cloudera-scm when that account
// exists, else nothing.
const serverUserScript = `pid=$(pgrep -f "[c]om.cloudera.server.cmf.Main" 2>/dev/null | head -n 1)
if [ -n "$pid" ]; then ps -o user= -p "$pid" && exit 0; fi
id -u cloudera-scm >/dev/null 2>&1 && echo cloudera-scm; exit 0`

// serverUser is the account the CM server runs as: server.user, else the
// owner of the running server process, else cloudera-scm when it exists.
// "" means it cannot be told.
func (e *Env) serverUser(ctx context.Context) string {
	if u := e.Answers.Server.User; u != "" {
		return u
	}
	res, err := e.Server.Run(ctx, "sh -c "+remote.Quote(serverUserScript), nil)
	if err != nil || res.Code != 0 {
		return ""
	}
	return strings.TrimSpace(string(res.Stdout))
}

// checkKeystoreAccess proves, before AGENT_TLS or WEB_TLS make the server
// load its keystore at start, that the account the CM server runs as can
// read it: Cloudera's "Configuring TLS Encryption for Cloudera Manager"
// has the keystore owned by cloudera-scm, and a server that cannot read it
// does not start, which with TLS on locks the console out (the cure is an
// edit of the CM database). An unreadable keystore is bad input, with the
// chmod/chown that fixes it; unchanged says what was left undone.
func (e *Env) checkKeystoreAccess(ctx context.Context, step, unchanged string) error {
	ks := e.Answers.Server.Keystore
	if ks == nil || ks.Path == "" {
		return nil
	}
	if err := e.openKeystore(ctx, unchanged); err != nil {
		return err
	}
	user := e.serverUser(ctx)
	if user == "" {
		e.report(Event{Step: step, Host: e.serverName(), Phase: PhaseApply, Status: StatusWarn,
			Detail: "cannot tell the CM server's account (no running server process, no cloudera-scm user): the keystore's readability by it was not checked; set server.user"})
		return nil
	}
	res, err := e.Server.Run(ctx, "sh -c "+remote.Quote(keystoreAccessScript)+" sh "+remote.Quote(user)+" "+remote.Quote(ks.Path), nil)
	if err != nil {
		return fmt.Errorf("check that %s can read %s: %w", user, ks.Path, err)
	}
	fix := fmt.Sprintf("make the keystore readable by the CM server's account: `chown %s %s && chmod 0600 %s` (and its directories searchable by it), or set server.user to the account the server runs as",
		user, ks.Path, ks.Path)
	out := strings.TrimSpace(string(res.Stdout))
	readable, how := judgeAccess(user, out)
	switch {
	case out == "nouser" && e.Answers.Server.User != "":
		return inputErrorf("set server.user to the account the CM server runs as", "server.user %q does not exist on the CM server", user)
	case out == "nouser":
		e.report(Event{Step: step, Host: e.serverName(), Phase: PhaseApply, Status: StatusWarn,
			Detail: "no account " + user + " on the CM server: the keystore's readability was not checked; set server.user"})
		return nil
	case !readable:
		return &InputError{Err: fmt.Errorf("the CM server's account %s cannot read the keystore %s (%s): with TLS on the server would not start; %s", user, ks.Path, how, unchanged), Fix: fix}
	}
	e.report(Event{Step: step, Host: e.serverName(), Phase: PhaseApply, Status: StatusProgress,
		Detail: fmt.Sprintf("the keystore %s is readable by the CM server's account %s (%s) and opens with server.keystore.password", ks.Path, user, how)})
	return nil
}

// openKeystore opens the server's keystore with server.keystore.password
// (what KEYSTORE_PASSWORD carries) and finds its alias as a key entry: a
// server that cannot open it does not start either.
func (e *Env) openKeystore(ctx context.Context, unchanged string) error {
	ks := e.Answers.Server.Keystore
	if len(ks.Password.Value()) == 0 {
		return nil
	}
	data, err := e.Server.ReadFile(ctx, ks.Path)
	if err != nil {
		return &InputError{Err: fmt.Errorf("read the keystore %s: %w; %s", ks.Path, err, unchanged), Fix: "run the server-cert step (or fix server.keystore.path)"}
	}
	store, err := pki.ReadKeystore(data, ks.Password.Value())
	if err != nil {
		return &InputError{Err: fmt.Errorf("the keystore %s does not open with server.keystore.password (%w); %s", ks.Path, err, unchanged),
			Fix: "give the keystore's password in server.keystore.password (it is what CM's KEYSTORE_PASSWORD gets)"}
	}
	alias := ks.Alias
	if alias == "" {
		alias = answers.DefaultAlias
	}
	if !store.IsKeyEntry(alias) {
		return &InputError{Err: fmt.Errorf("the keystore %s has no key entry %q (it has %s); %s", ks.Path, alias, strings.Join(store.Aliases(), ", "), unchanged),
			Fix: "set server.keystore.alias to the alias of the server's key"}
	}
	return nil
}

// judgeAccess reads keystoreAccessScript's answer: whether user can read
// the file, and how that was found.
func judgeAccess(user, out string) (bool, string) {
	switch out {
	case "yes":
		return true, "test -r as " + user
	case "no":
		return false, "test -r as " + user + " fails"
	}
	f := strings.Fields(out)
	if len(f) < 4 || f[0] != "stat" {
		return false, fmt.Sprintf("could not check: %q", out)
	}
	owner, group := f[1], f[2]
	mode, err := strconv.ParseUint(f[3], 8, 32)
	if err != nil {
		return false, "could not read the file's mode"
	}
	how := fmt.Sprintf("owner %s, group %s, mode %04o", owner, group, mode)
	switch {
	case owner == user:
		return mode&0o400 != 0, how
	case mode&0o004 != 0:
		return true, how
	}
	for _, g := range f[4:] {
		if g == group {
			return mode&0o040 != 0, how
		}
	}
	return false, how
}
