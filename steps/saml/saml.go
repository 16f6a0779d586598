package saml

import (
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/crewjam/saml"

	"github.com/cmtls/cmtls/daemon/samlsp"
	"github.com/cmtls/cmtls/daemon/samlsp/browser"
	"github.com/cmtls/cmtls/remote"
	"github.com/cmtls/cmtls/remote/cmapi"
	"github.com/cmtls/cmtls/remote/localfile"
	"github.com/cmtls/cmtls/steps"
	"github.com/cmtls/cmtls/steps/answers"
)

// Step ids (events, JSON).
const (
	StepValidate  = "saml-validate"
	StepSettings  = "saml-settings"
	StepRestart   = "saml-restart"
	StepIdP       = "saml-idp"
	StepVerify    = "saml-verify"
	titleValidate = "Configuring CM, step 13: validate the metadata, keystore, passwords and script"
	titleSettings = "Configuring CM, steps 3-12: SAML settings through the CM API"
	titleRestart  = "Configuring CM, step 14: restart the CM server"
	titleIdP      = "Configuring the IDP: SP metadata, URLs, what the IdP needs"
	titleVerify   = "Verifying: login redirects to the IdP; test logins"
)

// API is the part of the CM API used here; *cmapi.Client is one.
type API interface {
	Config(ctx context.Context) ([]cmapi.ConfigItem, error)
	SetConfig(ctx context.Context, items map[string]string) error
}

// Env is what a run needs.
type Env struct {
	Answers *answers.File
	API     API
	// Server runs server.restart_command (nil: no restart possible).
	Server remote.Host
	// HTTP reaches the CM console and the IdP (nil: a default client).
	// It must not follow redirects on its own; Run clones it as needed.
	HTTP     *http.Client
	Reporter steps.Reporter
	Now      func() time.Time
	// MetadataOut is where the SP metadata is saved (seed "Configuring the
	// IDP" 1); default DIR-of-answers/cm-saml-metadata.xml.
	MetadataOut string
	// Resolver resolves the metadata's host names (nil: net.DefaultResolver).
	Resolver interface {
		LookupHost(ctx context.Context, host string) ([]string, error)
	}
	// WaitTimeout bounds waiting for the console after the restart.
	WaitTimeout time.Duration
}

// Setting is one CM setting the run writes, by display name.
type Setting struct {
	DisplayName string `json:"displayName"`
	Name        string `json:"name"`
	Old         string `json:"old,omitempty"`
	New         string `json:"new"`
	Sensitive   bool   `json:"sensitive,omitempty"`
}

// redacted is a Setting as it may be shown: a sensitive one's values
// (the keystore password it will write) are replaced.
func (s Setting) redacted() Setting {
	if s.Sensitive {
		s.Old, s.New = redact(s.Old), "[redacted]"
	}
	return s
}

// MarshalJSON keeps a sensitive setting's values out of --json output.
func (s Setting) MarshalJSON() ([]byte, error) {
	type plain Setting // without the method, so no recursion
	return json.Marshal(plain(s.redacted()))
}

// Format keeps a sensitive setting's values out of anything printed with
// fmt (errors, logs) whatever the verb.
func (s Setting) Format(f fmt.State, verb rune) {
	type plain Setting
	r := plain(s.redacted())
	if f.Flag('+') {
		fmt.Fprintf(f, "%+v", r)
		return
	}
	fmt.Fprintf(f, "%v", r)
}

// Result is what a run found and did.
type Result struct {
	Plan     steps.Plan `json:"plan"`
	Applied  bool       `json:"applied"`
	Restart  bool       `json:"restarted"`
	Metadata string     `json:"spMetadata,omitempty"`
	// ForIdP is what the IdP administrator needs (seed "Configuring the
	// IDP" 3-5).
	ForIdP     []string      `json:"forIdP,omitempty"`
	Registered bool          `json:"registeredWithTestIdP,omitempty"`
	Logins     []LoginResult `json:"logins,omitempty"`
}

// LoginResult is one test login.
type LoginResult struct {
	User   string `json:"user"`
	Expect string `json:"expect"`
	Got    string `json:"got"`
	OK     bool   `json:"ok"`
}

// Error is a failed stage; it names the fix.
type Error struct {
	Step string
	Err  error
	Fix  string
	code int
}

func (e *Error) Error() string { return e.Step + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }
func (e *Error) Hint() string {
	type hinter interface{ Hint() string }
	var h hinter
	if e.Fix == "" && errors.As(e.Err, &h) {
		return h.Hint()
	}
	return e.Fix
}

// BadInput says the error is bad input (validation, refused
// credentials): nothing changed.
func (e *Error) BadInput() bool { return e.code == 2 }

func (env *Env) report(ev steps.Event) {
	if env.Reporter == nil {
		return
	}
	if ev.Time.IsZero() {
		ev.Time = env.now()
	}
	env.Reporter.Report(ev)
}

func (env *Env) now() time.Time {
	if env.Now != nil {
		return env.Now()
	}
	return time.Now()
}

// mapSettings lets the SP's own settings reader run the step 13 checks on
// the answers before anything is written.
type mapSettings map[string]string

func (m mapSettings) Get(n string) string { return m[n] }

// wanted lists the settings by display name with the API-name key samlsp
// reads, from the answers.
func wanted(f *answers.File) ([]Setting, mapSettings) {
	s := f.SAML
	ks := s.Keystore
	keyPass := ks.KeyPassword.Value()
	if len(keyPass) == 0 {
		keyPass = ks.Password.Value()
	}
	userFrom, userAttr := "ATTRIBUTE", samlsp.DefaultUserAttribute
	if s.UserID != nil {
		if strings.EqualFold(s.UserID.From, "nameid") {
			userFrom = "NAMEID"
		}
		if s.UserID.Attribute != "" {
			userAttr = s.UserID.Attribute
		}
	}
	roleFrom, roleAttr, admin, user, script := "ATTRIBUTE", samlsp.DefaultRoleAttribute, "", "", ""
	if r := s.Role; r != nil {
		if strings.EqualFold(r.From, "script") {
			roleFrom = "SCRIPT"
			script = f.ExpandPath(r.Script)
		}
		if r.Attribute != "" {
			roleAttr = r.Attribute
		}
		admin, user = strings.Join(r.AdminValues, ","), strings.Join(r.UserValues, ",")
	}
	list := []struct {
		key, display, value string
		sensitive           bool
	}{
		{samlsp.SettingExternalAuthType, "External Authentication Type", "SAML", false},
		{samlsp.SettingIdPMetadataPath, "Path to SAML IDP Metadata File", f.ExpandPath(s.IdPMetadata), false},
		{samlsp.SettingKeystorePath, "Path to SAML Keystore File", f.ExpandPath(ks.Path), false},
		{samlsp.SettingKeystorePassword, "SAML Keystore Password", string(ks.Password.Value()), true},
		{samlsp.SettingKeyAlias, "Alias of SAML Sign/Encrypt Private Key", ks.Alias, false},
		{samlsp.SettingKeyPassword, "SAML Sign/Encrypt Private Key Password", string(keyPass), true},
		{samlsp.SettingEntityID, "SAML Entity ID", cmp.Or(s.EntityID, samlsp.DefaultEntityID), false},
		{samlsp.SettingEntityBaseURL, "SAML Entity Base URL", strings.TrimRight(s.EntityBaseURL, "/"), false},
		{samlsp.SettingUserIDSource, "Source of User ID in SAML Response", userFrom, false},
		{samlsp.SettingUserIDAttribute, "SAML Attribute Identifier for User ID", userAttr, false},
		{samlsp.SettingRoleMechanism, "SAML Role Assignment Mechanism", roleFrom, false},
		{samlsp.SettingRoleAttribute, "SAML Attribute Identifier for User Role", roleAttr, false},
		{samlsp.SettingRoleAdminValues, "SAML Attribute Values for ROLE_ADMIN", admin, false},
		{samlsp.SettingRoleUserValues, "SAML Attribute Values for ROLE_USER", user, false},
		{samlsp.SettingScriptPath, "Path to SAML Script", script, false},
	}
	var out []Setting
	m := mapSettings{}
	for _, it := range list {
		m[it.key] = it.value
		if it.value == "" && it.key == samlsp.SettingEntityBaseURL {
			continue // empty: CM derives it; leave the server's value alone
		}
		out = append(out, Setting{DisplayName: it.display, New: it.value, Sensitive: it.sensitive})
	}
	return out, m
}

// Validate runs the seed's step 13 checks on the answers, before anything
// changes: the metadata parses and has signing certificates and an SSO URL,
// the keystore opens with its password, the alias is a private key, the key
// password is right, and a role script exists and is executable.
func Validate(f *answers.File) (*samlsp.IdP, error) {
	_, m := wanted(f)
	base := cmp.Or(m[samlsp.SettingEntityBaseURL], consoleBase(f))
	cfg, err := samlsp.ConfigFromSettings(m, base, nil)
	if err != nil {
		return nil, validationError(m, err)
	}
	idp, err := samlsp.ParseIdPMetadata(cfg.IdPMetadata)
	if err != nil {
		return nil, validationError(m, &samlsp.SettingsError{Setting: "Path to SAML IDP Metadata File", Err: err})
	}
	return idp, nil
}

// validationError turns a setting CM would refuse into the error the
// operator reads: it names the answers key that set it and, for the two
// files, says whether the file is missing, not metadata or not executable,
// with the fix for that case (samlsp's hints are written for CM's settings
// page and say "chmod +x" even for a script that does not exist).
func validationError(m map[string]string, err error) error {
	e := &Error{Step: StepValidate, Err: err, code: 2}
	var se *samlsp.SettingsError
	if !errors.As(err, &se) {
		return e
	}
	missing := errors.Is(err, os.ErrNotExist)
	switch se.Setting {
	case "Path to SAML IDP Metadata File":
		p := m[samlsp.SettingIdPMetadataPath]
		e.Err = fmt.Errorf("saml.idp_metadata: %w", err)
		if missing {
			e.Fix = fmt.Sprintf("%s does not exist: download the IdP's SAML metadata XML there, or correct saml.idp_metadata", p)
		} else {
			e.Fix = fmt.Sprintf("%s is not usable IdP metadata: download the metadata XML again from the IdP (one IdPSSODescriptor with a signing certificate and a SingleSignOnService) and point saml.idp_metadata at it", p)
		}
	case "Path to SAML Script":
		p := m[samlsp.SettingScriptPath]
		e.Err = fmt.Errorf("saml.role.script: %w", err)
		if missing {
			e.Fix = fmt.Sprintf("%s does not exist: install the role script there, or correct saml.role.script", p)
		} else {
			e.Fix = fmt.Sprintf("chmod +x %s (CM runs it with the user ID as $1: exit 0 admin, 1 user)", p)
		}
	}
	return e
}

// consoleBase is the console URL browsers use: the entity base URL, else
// the API URL's origin.
func consoleBase(f *answers.File) string {
	if f.SAML != nil && f.SAML.EntityBaseURL != "" {
		return strings.TrimRight(f.SAML.EntityBaseURL, "/")
	}
	if f.Server == nil || f.Server.API == nil {
		return ""
	}
	u, err := url.Parse(f.Server.API.URL)
	if err != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// Plan reads the current settings and says which ones change. Settings are
// found by display name (CM's API names for them are not confirmed).
func Plan(ctx context.Context, env *Env) (steps.Change, []Setting, error) {
	ch := steps.Change{Step: StepSettings, Title: titleSettings}
	want, _ := wanted(env.Answers)
	items, err := env.API.Config(ctx)
	if err != nil {
		e := &Error{Step: StepSettings, Err: fmt.Errorf("read the CM settings: %w", err), Fix: "check server.api (url, user, password)"}
		if _, ok := steps.CredentialsAsInput(err).(*steps.InputError); ok {
			e.code = 2 // refused credentials: bad input, nothing changed yet
		}
		return ch, nil, e
	}
	byDisplay := map[string]cmapi.ConfigItem{}
	for _, it := range items {
		byDisplay[strings.ToLower(it.DisplayName)] = it
	}
	// CM never returns sensitive values (it answers REDACTED). They count
	// as in place when the running SP publishes the certificate of our
	// keystore entry: it opened the same keystore with a password that works.
	keyInUse := env.servedCertMatches(ctx)
	var changes []Setting
	for _, w := range want {
		it, ok := byDisplay[strings.ToLower(w.DisplayName)]
		if !ok {
			return ch, nil, &Error{Step: StepSettings, Err: fmt.Errorf("CM has no setting %q", w.DisplayName),
				Fix: "this CM version may name it differently; check Administration > Settings > External Authentication"}
		}
		w.Name = it.Name
		w.Old = cmp.Or(it.Value, it.Default)
		if w.Old == w.New {
			continue
		}
		if (w.Sensitive || it.Sensitive) && it.Value != "" && keyInUse {
			continue
		}
		w.Sensitive = w.Sensitive || it.Sensitive
		changes = append(changes, w)
		old, nw := w.Old, w.New
		if w.Sensitive {
			old, nw = redact(old), "[redacted]"
		}
		ch.Add(steps.Item{Kind: steps.KindSetting, Target: w.DisplayName, Old: old, New: nw})
	}
	if len(changes) > 0 {
		ch.Add(steps.Item{Kind: steps.KindService, Target: cmp.Or(env.Answers.Server.RestartCommand, "(no server.restart_command)"), Note: "seed step 14: CM reads the SAML settings at start"})
	}
	return ch, changes, nil
}

// servedCertMatches reports whether CM's /saml/metadata publishes the
// certificate of the answers' keystore entry.
func (env *Env) servedCertMatches(ctx context.Context) bool {
	_, m := wanted(env.Answers)
	cfg, err := samlsp.ConfigFromSettings(m, cmp.Or(m[samlsp.SettingEntityBaseURL], consoleBase(env.Answers)), nil)
	if err != nil {
		return false
	}
	body, err := get(ctx, env.httpClient(), consoleBase(env.Answers)+samlsp.PathMetadata)
	if err != nil {
		return false
	}
	md, err := parseSPMetadata(body)
	if err != nil {
		return false
	}
	for _, c := range md.Certs {
		if c.Equal(cfg.Certificate) {
			return true
		}
	}
	return false
}

func redact(v string) string {
	if v == "" {
		return ""
	}
	return "[redacted]"
}

// Options of a run.
type Options struct {
	DryRun bool
	// Confirm is called with the plan before anything changes; false
	// stops the run (nil: go ahead).
	Confirm func(context.Context, steps.Plan) (bool, error)
}

// Run validates, plans, applies, restarts, configures the IdP side and
// verifies.
func Run(ctx context.Context, env *Env, opts Options) (*Result, error) {
	res := &Result{}
	env.report(steps.Event{Step: StepValidate, Title: titleValidate, Phase: steps.PhasePlan, Status: steps.StatusStart})
	idp, err := Validate(env.Answers)
	if err != nil {
		env.fail(StepValidate, steps.PhasePlan, err)
		return res, err
	}
	env.report(steps.Event{Step: StepValidate, Phase: steps.PhasePlan, Status: steps.StatusOK,
		Detail: fmt.Sprintf("IdP %s: %d signing certificate(s), SSO %s", idp.EntityID, len(idp.SigningCerts), cmp.Or(idp.SSORedirect, idp.SSOPost))})

	ch, changes, err := Plan(ctx, env)
	if err != nil {
		env.fail(StepSettings, steps.PhasePlan, err)
		return res, err
	}
	res.Plan = steps.Plan{ch}
	if opts.DryRun {
		return res, nil
	}
	if opts.Confirm != nil {
		ok, err := opts.Confirm(ctx, res.Plan)
		if err != nil {
			return res, err
		}
		if !ok {
			return res, steps.ErrDeclined
		}
	}
	if len(changes) == 0 {
		env.report(steps.Event{Step: StepSettings, Title: titleSettings, Phase: steps.PhaseApply, Status: steps.StatusUnchanged, Detail: "the SAML settings are already in place"})
	} else {
		if err := env.apply(ctx, changes); err != nil {
			env.fail(StepSettings, steps.PhaseApply, err)
			return res, err
		}
		res.Applied = true
		if err := env.restart(ctx); err != nil {
			env.fail(StepRestart, steps.PhaseApply, err)
			return res, err
		}
		res.Restart = true
	}
	if err := env.configureIdP(ctx, res); err != nil {
		env.fail(StepIdP, steps.PhaseVerify, err)
		return res, err
	}
	if err := env.verify(ctx, res); err != nil {
		env.fail(StepVerify, steps.PhaseVerify, err)
		return res, err
	}
	return res, nil
}

func (env *Env) fail(step string, phase steps.Phase, err error) {
	ev := steps.Event{Step: step, Phase: phase, Status: steps.StatusFailed, Err: err.Error()}
	var e *Error
	if errors.As(err, &e) {
		ev.Hint = e.Hint()
	}
	env.report(ev)
}

func (env *Env) apply(ctx context.Context, changes []Setting) error {
	env.report(steps.Event{Step: StepSettings, Title: titleSettings, Phase: steps.PhaseApply, Status: steps.StatusStart})
	m := map[string]string{}
	for _, c := range changes {
		m[c.Name] = c.New
	}
	if err := env.API.SetConfig(ctx, m); err != nil {
		return &Error{Step: StepSettings, Err: fmt.Errorf("write the SAML settings: %w", err), Fix: "CM validates SAML settings on save: read the message above"}
	}
	env.report(steps.Event{Step: StepSettings, Phase: steps.PhaseApply, Status: steps.StatusChanged, Detail: fmt.Sprintf("%d setting(s) written", len(changes))})
	return nil
}

func (env *Env) httpClient() *http.Client {
	c := &http.Client{Timeout: 15 * time.Second}
	if env.HTTP != nil {
		cc := *env.HTTP
		c = &cc
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}

func (env *Env) restart(ctx context.Context) error {
	cmd := env.Answers.Server.RestartCommand
	env.report(steps.Event{Step: StepRestart, Title: titleRestart, Phase: steps.PhaseApply, Status: steps.StatusStart, Detail: cmd})
	if cmd == "" || env.Server == nil {
		return &Error{Step: StepRestart, Err: errors.New("no way to restart the CM server"), Fix: "set server.restart_command (e.g. systemctl restart cloudera-scm-server)"}
	}
	r, err := env.Server.Run(ctx, cmd, nil)
	if err != nil {
		return &Error{Step: StepRestart, Err: err}
	}
	if r.Code != 0 {
		return &Error{Step: StepRestart, Err: fmt.Errorf("%s exited %d: %s", cmd, r.Code, strings.TrimSpace(string(r.Stderr))),
			Fix: "read the CM server log: a SAML setting it cannot use stops it from starting"}
	}
	// Wait for /saml/metadata to answer: the SP is up with the new settings.
	timeout := env.WaitTimeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	deadline := env.now().Add(timeout)
	c := env.httpClient()
	u := consoleBase(env.Answers) + samlsp.PathMetadata
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				env.report(steps.Event{Step: StepRestart, Phase: steps.PhaseApply, Status: steps.StatusChanged, Detail: "CM answers at " + u})
				return nil
			}
		}
		if !env.now().Before(deadline) {
			return &Error{Step: StepRestart, Err: fmt.Errorf("%s did not answer within %s after the restart", u, timeout),
				Fix: "read the CM server log; set saml.entity_base_url if browsers reach CM at another URL"}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// spMetadata is what the run learned from /saml/metadata.
type spMetadata struct {
	EntityID string
	ACS      []string
	SLO      []string
	Certs    []*x509.Certificate
}

func parseSPMetadata(b []byte) (*spMetadata, error) {
	if err := samlsp.CheckXML(b); err != nil {
		return nil, err
	}
	var ed saml.EntityDescriptor
	if err := xml.Unmarshal(b, &ed); err != nil {
		return nil, err
	}
	if len(ed.SPSSODescriptors) == 0 {
		return nil, errors.New("no SPSSODescriptor")
	}
	md := &spMetadata{EntityID: ed.EntityID}
	for _, d := range ed.SPSSODescriptors {
		for _, a := range d.AssertionConsumerServices {
			md.ACS = append(md.ACS, a.Location)
		}
		for _, s := range d.SingleLogoutServices {
			md.SLO = append(md.SLO, s.Location)
		}
		certs, err := samlsp.SigningCerts(d.KeyDescriptors)
		if err != nil {
			return nil, err
		}
		md.Certs = append(md.Certs, certs...)
	}
	return md, nil
}

// configureIdP is "Configuring the IDP" 1-5: download the metadata, check
// its URLs, say what the IdP needs, and register with a loopback test IdP.
func (env *Env) configureIdP(ctx context.Context, res *Result) error {
	env.report(steps.Event{Step: StepIdP, Title: titleIdP, Phase: steps.PhaseVerify, Status: steps.StatusStart})
	c := env.httpClient()
	u := consoleBase(env.Answers) + samlsp.PathMetadata
	body, err := get(ctx, c, u)
	if err != nil {
		return &Error{Step: StepIdP, Err: fmt.Errorf("download %s: %w", u, err), Fix: "check that CM runs with External Authentication Type SAML and that server.api.url / saml.entity_base_url reach it"}
	}
	md, err := parseSPMetadata(body)
	if err != nil {
		return &Error{Step: StepIdP, Err: fmt.Errorf("%s: %w", u, err)}
	}
	out := env.MetadataOut
	if out == "" {
		out = filepath.Join(env.Answers.Dir, "cm-saml-metadata.xml")
	}
	if err := localfile.Write(out, body, 0o644); err != nil {
		return &Error{Step: StepIdP, Err: err}
	}
	res.Metadata = out
	env.report(steps.Event{Step: StepIdP, Phase: steps.PhaseVerify, Status: steps.StatusProgress, Detail: "SP metadata saved to " + out})
	if want := cmp.Or(env.Answers.SAML.EntityID, samlsp.DefaultEntityID); md.EntityID != want {
		return &Error{Step: StepIdP, Err: fmt.Errorf("the served metadata has entity ID %q, not %q", md.EntityID, want), Fix: "CM still runs with older settings: restart it"}
	}
	// Seed: "ensure that any URLs contained in the file can be resolved by
	// users' web browsers".
	for _, loc := range append(slices.Clone(md.ACS), md.SLO...) {
		if err := env.checkURL(ctx, c, loc); err != nil {
			return &Error{Step: StepIdP, Err: fmt.Errorf("metadata URL %s: %w", loc, err),
				Fix: "set saml.entity_base_url to the URL browsers use for CM, then run again"}
		}
	}
	env.report(steps.Event{Step: StepIdP, Phase: steps.PhaseVerify, Status: steps.StatusProgress, Detail: fmt.Sprintf("%d metadata URL(s) resolve and answer", len(md.ACS)+len(md.SLO))})
	res.ForIdP = forIdP(env.Answers, md, out)
	// A test IdP on loopback (the sandbox's) is registered directly.
	if ok := env.registerTestIdP(ctx, c, body); ok {
		res.Registered = true
		env.report(steps.Event{Step: StepIdP, Phase: steps.PhaseVerify, Status: steps.StatusChanged, Detail: "registered with the test IdP"})
	}
	env.report(steps.Event{Step: StepIdP, Phase: steps.PhaseVerify, Status: steps.StatusOK})
	return nil
}

func get(ctx context.Context, c *http.Client, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %s", resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 4<<20))
}

// checkURL resolves the host and sends a GET: any HTTP answer below 500
// counts (the ACS answers GET with 405: it is there).
func (env *Env) checkURL(ctx context.Context, c *http.Client, loc string) error {
	u, err := url.Parse(loc)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("not an http(s) URL")
	}
	var r interface {
		LookupHost(ctx context.Context, host string) ([]string, error)
	} = net.DefaultResolver
	if env.Resolver != nil {
		r = env.Resolver
	}
	if net.ParseIP(u.Hostname()) == nil {
		if _, err := r.LookupHost(ctx, u.Hostname()); err != nil {
			return fmt.Errorf("host %s does not resolve: %w", u.Hostname(), err)
		}
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, loc, nil)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode >= 500 {
		return fmt.Errorf("answers %s", resp.Status)
	}
	return nil
}

func forIdP(f *answers.File, md *spMetadata, path string) []string {
	out := []string{
		"give the IdP this metadata file: " + path,
		"entity ID (audience): " + md.EntityID,
	}
	for _, a := range md.ACS {
		out = append(out, "assertion consumer service (HTTP-POST): "+a)
	}
	for _, s := range slices.Compact(slices.Clone(md.SLO)) {
		out = append(out, "single logout service (HTTP-Redirect, HTTP-POST): "+s)
	}
	for _, c := range md.Certs {
		sum := sha256.Sum256(c.Raw)
		out = append(out, fmt.Sprintf("CM signs requests with %q (SHA-256 %X); the IdP must trust it to check signed requests and logouts", c.Subject.CommonName, sum[:]))
	}
	_, m := wanted(f)
	if m[samlsp.SettingUserIDSource] == "NAMEID" {
		out = append(out, "release the user ID as the NameID")
	} else {
		out = append(out, "release the user ID as attribute "+m[samlsp.SettingUserIDAttribute]+" (NameFormat uri)")
	}
	if m[samlsp.SettingRoleMechanism] == "SCRIPT" {
		out = append(out, "roles come from the script "+m[samlsp.SettingScriptPath]+" on the CM server (exit 0 admin, 1 regular user)")
	} else {
		out = append(out, fmt.Sprintf("release the role as attribute %s with %q for admins and %q for regular users",
			m[samlsp.SettingRoleAttribute], m[samlsp.SettingRoleAdminValues], m[samlsp.SettingRoleUserValues]))
	}
	return out
}

// registerTestIdP posts the SP metadata to a test IdP's /register when
// the IdP's SSO URL is on loopback (the sandbox's IdP). Anything else is
// left to the IdP's administrator.
func (env *Env) registerTestIdP(ctx context.Context, c *http.Client, md []byte) bool {
	data, err := os.ReadFile(env.Answers.ExpandPath(env.Answers.SAML.IdPMetadata))
	if err != nil {
		return false
	}
	idp, err := samlsp.ParseIdPMetadata(data)
	if err != nil {
		return false
	}
	u, err := url.Parse(cmp.Or(idp.SSORedirect, idp.SSOPost))
	if err != nil {
		return false
	}
	if ip := net.ParseIP(u.Hostname()); (ip == nil || !ip.IsLoopback()) && u.Hostname() != "localhost" {
		return false
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, u.Scheme+"://"+u.Host+"/register", strings.NewReader(string(md)))
	req.Header.Set("Content-Type", "application/samlmetadata+xml")
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// verify is "Verifying" 1-5.
func (env *Env) verify(ctx context.Context, res *Result) error {
	env.report(steps.Event{Step: StepVerify, Title: titleVerify, Phase: steps.PhaseVerify, Status: steps.StatusStart})
	c := env.httpClient()
	base := consoleBase(env.Answers)
	md, err := os.ReadFile(res.Metadata)
	if err != nil {
		return &Error{Step: StepVerify, Err: err}
	}
	sp, err := parseSPMetadata(md)
	if err != nil {
		return &Error{Step: StepVerify, Err: err}
	}
	idpData, err := os.ReadFile(env.Answers.ExpandPath(env.Answers.SAML.IdPMetadata))
	if err != nil {
		return &Error{Step: StepVerify, Err: err}
	}
	idp, err := samlsp.ParseIdPMetadata(idpData)
	if err != nil {
		return &Error{Step: StepVerify, Err: err}
	}
	// 1. The login page redirects to the IdP with a signed request.
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+samlsp.PathLogin, nil)
	resp, err := c.Do(req)
	if err != nil {
		return &Error{Step: StepVerify, Err: err}
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil {
		return &Error{Step: StepVerify, Err: fmt.Errorf("%s answered %s, not a redirect to the IdP", base+samlsp.PathLogin, resp.Status)}
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != idp.SSORedirect {
		return &Error{Step: StepVerify, Err: fmt.Errorf("login redirects to %s, not the IdP's SSO URL %s", got, idp.SSORedirect),
			Fix: "check saml.idp_metadata: CM reads the SSO URL from it"}
	}
	xmlb, _, signed, err := samlsp.DecodeRedirect(loc.RawQuery, "SAMLRequest", sp.Certs, false)
	if err != nil || !signed {
		return &Error{Step: StepVerify, Err: fmt.Errorf("the AuthnRequest signature does not verify with the certificate in CM's metadata (signed=%v): %v", signed, err)}
	}
	var ar saml.AuthnRequest
	if err := xml.Unmarshal(xmlb, &ar); err != nil || ar.Issuer == nil || ar.Issuer.Value != sp.EntityID || !slices.Contains(sp.ACS, ar.AssertionConsumerServiceURL) {
		return &Error{Step: StepVerify, Err: fmt.Errorf("the AuthnRequest does not match CM's metadata: %s", xmlb)}
	}
	env.report(steps.Event{Step: StepVerify, Phase: steps.PhaseVerify, Status: steps.StatusProgress, Detail: "the login page redirects to the IdP with a valid signed request"})

	// 2-5. Test logins.
	var v *answers.SAMLVerify = env.Answers.SAML.Verify
	if v == nil || len(v.Logins) == 0 {
		env.report(steps.Event{Step: StepVerify, Phase: steps.PhaseVerify, Status: steps.StatusWarn,
			Detail: "no saml.verify.logins: log in once as an admin and once as a regular user to finish verifying"})
		return nil
	}
	var failed []string
	for _, l := range v.Logins {
		got, err := env.login(ctx, base, l.User, string(l.Password.Value()))
		lr := LoginResult{User: l.User, Expect: l.Expect, Got: got, OK: err == nil && got == l.Expect}
		res.Logins = append(res.Logins, lr)
		if !lr.OK {
			detail := fmt.Sprintf("%s: expected %s, got %s", l.User, l.Expect, got)
			if err != nil {
				detail += " (" + err.Error() + ")"
			}
			failed = append(failed, detail)
			env.report(steps.Event{Step: StepVerify, Phase: steps.PhaseVerify, Status: steps.StatusFailed, Host: l.User, Err: detail})
			continue
		}
		detail := "logged in as " + got
		if got == "unauthorized" {
			detail = "authenticated by the IdP, then shown the not-authorized page (as expected)"
		}
		env.report(steps.Event{Step: StepVerify, Phase: steps.PhaseVerify, Status: steps.StatusOK, Host: l.User, Detail: detail})
	}
	if len(failed) > 0 {
		return &Error{Step: StepVerify, Err: errors.New(strings.Join(failed, "; ")),
			Fix: "an unexpected not-authorized page means the role is not reaching CM: check the IdP's attribute release or the role script (the CM log gives the reason)"}
	}
	env.report(steps.Event{Step: StepVerify, Phase: steps.PhaseVerify, Status: steps.StatusOK, Detail: fmt.Sprintf("%d login(s) ended as expected", len(v.Logins))})
	return nil
}

// login runs one browser login and names where it ended: admin, user,
// unauthorized, or an error.
func (env *Env) login(ctx context.Context, base, user, pass string) (string, error) {
	var rt http.RoundTripper
	if env.HTTP != nil {
		rt = env.HTTP.Transport
	}
	b := browser.NewBrowser(rt)
	p, err := b.Get(ctx, base+"/")
	if err != nil {
		return "error", err
	}
	if p, err = b.Login(ctx, p, user, pass); err != nil {
		return "error", err
	}
	switch {
	case p.Status == http.StatusForbidden && strings.Contains(p.Body, `id="not-authorized"`):
		return "unauthorized", nil
	case p.Status == http.StatusOK && (strings.Contains(p.Body, "(ADMIN)") || strings.Contains(p.Body, `data-role="admin"`)):
		return "admin", nil
	case p.Status == http.StatusOK && (strings.Contains(p.Body, "(USER)") || strings.Contains(p.Body, `data-role="user"`)):
		return "user", nil
	}
	return "error", fmt.Errorf("ended at %s with status %d", p.URL, p.Status)
}
