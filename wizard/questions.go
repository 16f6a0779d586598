package wizard

import (
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/cmtls/cmtls/steps/answers"
)

// kind is how a question is asked.
type kind int

const (
	kindInput    kind = iota // one line of text
	kindPassword             // one line, not echoed; stored as answers.NewSecret
	kindSelect               // one of options
	kindConfirm              // yes / no
	kindHosts                // agent hosts: multi-select of discovered hosts, or text
	kindText                 // several lines of text
)

// question is one thing the wizard may ask. Every question writes exactly one
// field of the answers file (its path), so whatever the wizard asks can be
// given headless too.
type question struct {
	path  string // dotted path in the answers file, e.g. "agents.ssh.port"
	title string
	desc  string
	kind  kind
	// options are the choices of a kindSelect; optionsFn, when set, computes
	// them from earlier answers (key sizes depend on the algorithm).
	options   []string
	optionsFn func() []string
	// match lists substrings of answers validation messages that are about
	// this field; those messages become the field's error.
	match []string
	// missing reports whether the original file lacks this answer; only
	// missing questions are asked.
	missing func(f *answers.File) bool
	// relevant reports, from the answers given so far, whether the question
	// applies (e.g. key size only when generating). nil: always.
	relevant func() bool
	// optional: an empty answer is fine (it means "leave it out").
	optional bool
	// placeholder, when set, is the default an empty answer stands for,
	// computed from earlier answers (e.g. the API URL from the host).
	placeholder func() string
	// dep is the earlier answer placeholder or optionsFn depend on.
	dep *string
	// load reads the answer from a file that gives it, for later questions
	// that depend on it (the SAN and API URL defaults use the host).
	load func(f *answers.File) string
	// check is a rule of the wizard's own on top of answers' validation.
	check func(v string) error
	// set writes the answer v into w, creating parent sections.
	set func(w *answers.File, v string) error
	// checksAPI: the answer completes the CM API credentials, which are
	// tried (one API call) before the form goes on.
	checksAPI bool
	// skipNote, when the question is not asked, may say why (shown before
	// the first question, so that nothing vanishes without a word).
	skipNote func(f *answers.File) string

	// Bound values while the form runs.
	val   string   // input, password, select, text hosts
	bval  bool     // confirm
	list  []string // hosts multi-select
	input string   // the initial value (what an empty accessible answer means)
}

// value is the question's answer as a string, whatever its kind.
func (q *question) value() string {
	switch q.kind {
	case kindConfirm:
		if q.bval {
			return "yes"
		}
		return "no"
	case kindHosts:
		if q.list != nil {
			return strings.Join(q.list, "\n")
		}
	}
	v := strings.TrimSpace(q.val)
	if v == "" && q.placeholder != nil {
		v = q.placeholder()
	}
	return v
}

// ---- helpers that create parent sections ----

// ensure returns *p, allocating it first when it is nil.
func ensure[T any](p **T) *T {
	if *p == nil {
		*p = new(T)
	}
	return *p
}

func srv(w *answers.File) *answers.Server { return ensure(&w.Server) }

func srvSSH(w *answers.File) *answers.SSH { return ensure(&srv(w).SSH) }

func api(w *answers.File) *answers.API { return ensure(&srv(w).API) }

func ks(w *answers.File) *answers.Keystore { return ensure(&srv(w).Keystore) }

func gen(w *answers.File) *answers.Generate { return ensure(&ks(w).Generate) }

func subj(w *answers.File) *answers.Subject { return ensure(&gen(w).Subject) }

func imp(w *answers.File) *answers.Import { return ensure(&ks(w).Import) }

func ag(w *answers.File) *answers.Agents { return ensure(&w.Agents) }

func agSSH(w *answers.File) *answers.SSH { return ensure(&ag(w).SSH) }

func tlsSec(w *answers.File) *answers.TLS { return ensure(&w.TLS) }

func verifySec(w *answers.File) *answers.Verify { return ensure(&w.Verify) }

func samlSec(w *answers.File) *answers.SAML { return ensure(&w.SAML) }

func samlKS(w *answers.File) *answers.SAMLKeystore { return ensure(&samlSec(w).Keystore) }

func samlRole(w *answers.File) *answers.Role { return ensure(&samlSec(w).Role) }

func samlUserID(w *answers.File) *answers.UserID { return ensure(&samlSec(w).UserID) }

// ---- value parsers and local checks ----

func parsePort(v string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return 0, fmt.Errorf("%q is not a port number: use 1-65535", v)
	}
	if n < 1 || n > 65535 {
		return 0, fmt.Errorf("port %d is out of range: use 1-65535", n)
	}
	return n, nil
}

func parseInt(v string, lo, hi int, what string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return 0, fmt.Errorf("%q is not a number: %s is %d-%d", v, what, lo, hi)
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("%s %d is out of range: use %d-%d", what, n, lo, hi)
	}
	return n, nil
}

// checkKeystorePassword is keytool's rule: at least 6 characters. ASCII only
// because the password crosses shells, keytool and CM's configuration.
func checkKeystorePassword(v string) error {
	if len(v) < 6 {
		return errors.New("keystore passwords need at least 6 characters (keytool refuses shorter ones)")
	}
	for _, c := range v {
		if c < 0x21 || c > 0x7e {
			return errors.New("use printable ASCII characters without spaces in the keystore password")
		}
	}
	return nil
}

func checkAbs(v string) error {
	if v != "" && !path.IsAbs(v) {
		return fmt.Errorf("%q is not an absolute path: start it with /", v)
	}
	return nil
}

func checkNotEmpty(v string) error {
	if strings.TrimSpace(v) == "" {
		return errors.New("an answer is required")
	}
	return nil
}

// splitList splits hosts or values given on lines, or separated by commas or
// spaces.
func splitList(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' || r == '\r' })
}

// hostErr checks a host name with the answers file's own rule (it is the
// rule server.host is held to headless).
func hostErr(h string) error {
	p := &answers.File{Version: 1, Server: &answers.Server{Host: h}}
	return matchErr(p.ValidateInit(), []string{"server.host"})
}

// matchErr keeps the validation messages that are about one field (by the
// substrings in match) and returns them as one error, or nil.
func matchErr(err error, match []string) error {
	if err == nil {
		return nil
	}
	var all []*answers.Error
	var es answers.Errors
	var e *answers.Error
	switch {
	case errors.As(err, &es):
		all = es
	case errors.As(err, &e):
		all = []*answers.Error{e}
	default:
		return err
	}
	var msgs []string
	for _, e := range all {
		for _, m := range match {
			if strings.Contains(e.Msg, m) {
				s := e.Msg
				if e.Fix != "" {
					s += " (" + e.Fix + ")"
				}
				msgs = append(msgs, s)
				break
			}
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return errors.New(strings.Join(msgs, "; "))
}

func yesNo(v string) bool { return v == "yes" }

// lockoutWarning is Cloudera's warning for Step 7 ("Configuring TLS
// Authentication of Server to Agents and Users"), shown where the user
// decides about console TLS.
const lockoutWarning = "Turns on \"Use TLS Encryption for Admin Console\" (Step 7). Do not enable it before Steps 1-6 are done " +
	"and verified: enabled earlier, you lose the ability to connect to the Cloudera Manager Server from the Admin Console. " +
	"cmtls runs it only after agents heartbeat over verified TLS, and refuses it otherwise."

// samlQuestions lists, in order, everything `cmtls saml configure` may ask.
func samlQuestions(d Discovered) []*question {
	qs := &qset{}
	add := qs.add
	noSAML := func(f *answers.File) bool { return f.SAML == nil }
	noKS := func(f *answers.File) bool { return f.SAML == nil || f.SAML.Keystore == nil }
	noRole := func(f *answers.File) bool { return f.SAML == nil || f.SAML.Role == nil }

	apiQuestions(qs, d, nil, true)
	// CM reads SAML settings at start: the server is restarted, on this
	// machine or over SSH.
	serverSSHQuestions(qs, "Reach the CM server over SSH at")
	add(&question{path: "server.restart_command", title: "Command that restarts the CM server",
		desc:    "CM reads the SAML settings when it starts.",
		missing: func(f *answers.File) bool { return f.Server == nil || f.Server.RestartCommand == "" }, check: checkNotEmpty,
		set: func(w *answers.File, v string) error { srv(w).RestartCommand = v; return nil }, val: answers.DefaultServerRestart})
	add(&question{path: "saml.idp_metadata", title: "IdP metadata file (XML)", desc: "The identity provider's SAML metadata, as a file.",
		missing: func(f *answers.File) bool { return noSAML(f) || f.SAML.IdPMetadata == "" }, check: checkNotEmpty,
		set: func(w *answers.File, v string) error { samlSec(w).IdPMetadata = v; return nil }})
	add(&question{path: "saml.keystore.path", title: "SAML keystore path", desc: "Holds CM's SAML signing and encryption key.",
		missing: noKS, check: checkNotEmpty,
		set: func(w *answers.File, v string) error { samlKS(w).Path = v; return nil }})
	add(&question{path: "saml.keystore.type", title: "SAML keystore type", kind: kindSelect, options: []string{"jks", "pkcs12"}, missing: noKS,
		set: func(w *answers.File, v string) error { samlKS(w).Type = v; return nil }, val: "jks"})
	add(&question{path: "saml.keystore.password", title: "SAML keystore password", kind: kindPassword, missing: noKS, check: checkKeystorePassword,
		set: func(w *answers.File, v string) error { samlKS(w).Password = answers.NewSecret([]byte(v)); return nil }})
	add(&question{path: "saml.keystore.alias", title: "Alias of the SAML key", missing: noKS, check: checkNotEmpty,
		set: func(w *answers.File, v string) error { samlKS(w).Alias = v; return nil }})
	add(&question{path: "saml.keystore.key_password", title: "Password of the SAML key", kind: kindPassword, optional: true,
		desc: "Blank when it is the keystore password.", missing: noKS,
		set: func(w *answers.File, v string) error {
			if v != "" {
				samlKS(w).KeyPassword = answers.NewSecret([]byte(v))
			}
			return nil
		}})
	add(&question{path: "saml.entity_id", title: "SAML entity ID of CM", missing: noSAML, check: checkNotEmpty,
		set: func(w *answers.File, v string) error { samlSec(w).EntityID = v; return nil }, val: answers.DefaultSAMLEntityID})
	base := ""
	if d.FQDN != "" {
		base = "https://" + d.FQDN + ":7183"
	}
	add(&question{path: "saml.entity_base_url", title: "URL browsers reach CM at", optional: true, missing: noSAML,
		set: func(w *answers.File, v string) error { samlSec(w).EntityBaseURL = v; return nil }, val: base})
	uid := add(&question{path: "saml.user_id.from", title: "Read the user ID from", kind: kindSelect, options: []string{"attribute", "nameid"},
		missing: func(f *answers.File) bool { return noSAML(f) || f.SAML.UserID == nil },
		set:     func(w *answers.File, v string) error { samlUserID(w).From = v; return nil }, val: "attribute"})
	add(&question{path: "saml.user_id.attribute", title: "User ID attribute",
		missing:  func(f *answers.File) bool { return noSAML(f) || f.SAML.UserID == nil },
		relevant: func() bool { return uid.val == "attribute" }, check: checkNotEmpty,
		set: func(w *answers.File, v string) error { samlUserID(w).Attribute = v; return nil }, val: answers.DefaultUserIDAttribute})
	role := add(&question{path: "saml.role.from", title: "Decide the CM role from", kind: kindSelect, options: []string{"attribute", "script"},
		missing: noRole, set: func(w *answers.File, v string) error { samlRole(w).From = v; return nil }, val: "attribute"})
	byAttr := func() bool { return role.val == "attribute" }
	add(&question{path: "saml.role.attribute", title: "Role attribute", missing: noRole, relevant: byAttr, check: checkNotEmpty,
		set: func(w *answers.File, v string) error { samlRole(w).Attribute = v; return nil }, val: answers.DefaultRoleAttribute})
	add(&question{path: "saml.role.admin_values", title: "Attribute values meaning admin", desc: "Separated by commas.",
		missing: noRole, relevant: byAttr, optional: true, match: []string{},
		set: func(w *answers.File, v string) error { samlRole(w).AdminValues = splitList(v); return nil }})
	add(&question{path: "saml.role.user_values", title: "Attribute values meaning a regular user", desc: "Separated by commas.",
		missing: noRole, relevant: byAttr, optional: true, match: []string{"admin_values"},
		set: func(w *answers.File, v string) error { samlRole(w).UserValues = splitList(v); return nil }})
	add(&question{path: "saml.role.script", title: "Role script (executable)", missing: noRole,
		relevant: func() bool { return role.val == "script" }, check: checkNotEmpty,
		set: func(w *answers.File, v string) error { samlRole(w).Script = v; return nil }})
	return qs.qs
}

// caFileQuestion asks for the CA that signed the Admin Console's
// certificate when the API URL is https (console TLS, Step 7, is on): Go
// verifies it, and the server's own certificate is the usual CA of a
// self-signed setup.
func caFileQuestion(s *qset, d Discovered) {
	url := s.by["server.api.url"]
	s.add(&question{path: "server.api.ca_file", title: "CA certificate of the Admin Console (PEM file)",
		desc: "The Admin Console is on https: its certificate is checked against this CA. With the certificate " +
			"cmtls init generated, it is the server's own PEM.",
		missing: func(f *answers.File) bool { return noAPI(f) || f.Server.API.CAFile == "" },
		relevant: func() bool {
			return strings.HasPrefix(strings.ToLower(strings.TrimSpace(url.value())), "https://")
		},
		check: func(v string) error {
			if err := checkNotEmpty(v); err != nil {
				return err
			}
			if d.CheckFile != nil {
				return d.CheckFile(v)
			}
			return nil
		},
		set: func(w *answers.File, v string) error { api(w).CAFile = v; return nil }, val: d.CAFile})
}
