package steps

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cmtls/cmtls/remote/cmapi"
)

// level2Steps are Steps 1-6: Step 7 may only run once they are verified.
var level2Steps = []string{"enable-agent-tls", "server-cert", "push-cert", "restart-server", "restart-agents", "verify-heartbeats"}

// lockoutReason is the warning of Step 7 in Cloudera's "Configuring TLS
// Authentication of Server to Agents and Users".
const lockoutReason = "the Admin Console must not use TLS before Steps 1-6 are completed and verified: " +
	"if it is enabled before them, you will lose the ability to connect to the Cloudera Manager Server from the Admin Console"

// UndoConsoleTLS says how to turn Step 7 back.
const UndoConsoleTLS = "to undo console TLS: `cmtls rollback --answers FILE` (WEB_TLS off through the API, then a server restart); " +
	"if the console cannot be reached at all, on the CM database run UPDATE CONFIGS SET VALUE='false' WHERE ATTR='web_tls'; " +
	"then `service cloudera-scm-server restart`"

// ConsoleTLS is Step 7 (optional): "Use TLS Encryption for Admin Console"
// (WEB_TLS), a server restart, proof that the console's TLS port serves the
// new certificate and that the plain port redirects to it, and the
// Cloudera Management Service given a truststore and restarted. Before
// WEB_TLS goes on, everything it needs is in place: Steps 1-6 verified, the
// keystore readable by the server's account, the Management Service's
// truststore written and set.
type ConsoleTLS struct {
	// mgmt is what Plan found out about the Management Service.
	mgmt mgmtPlan
	// webOn is true when WEB_TLS was on already at Plan.
	webOn bool
}

func (*ConsoleTLS) Name() string { return "console-tls" }
func (*ConsoleTLS) Title() string {
	return "Step 7: TLS for the Admin Console"
}

func (s *ConsoleTLS) Plan(ctx context.Context, env *Env) (Change, error) {
	var ch Change
	s.mgmt, s.webOn = mgmtPlan{}, false
	if env.Answers.TLS == nil || !env.Answers.TLS.AdminConsole {
		ch.Notes = append(ch.Notes, "tls.admin_console is false: console TLS left as it is")
		return ch, nil
	}
	cfg, err := env.API.Config(ctx)
	if err != nil {
		return ch, fmt.Errorf("read CM settings: %w", err)
	}
	it, _ := cmapi.FindByName(cfg, settingWebTLS)
	s.webOn = isTrue(it.Value)
	if !s.webOn {
		// Refuse now, before anything changes, when Steps 1-6 are
		// neither part of this run nor already verified.
		var missing []string
		for _, id := range level2Steps {
			if !env.isSelected(id) {
				missing = append(missing, id)
			}
		}
		if len(missing) > 0 {
			if why := env.level2Now(ctx); why != "" {
				return ch, &RefusedError{Step: s.Name(), Reason: lockoutReason + " (" + why + ")",
					Fix: "run `cmtls init` with Steps 1-6 first (without --only/--skip of " + strings.Join(missing, ", ") + ")"}
			}
		}
	}
	_, leaf, err := env.serverPEM()
	if err != nil {
		return ch, err
	}
	mp, items, notes, err := env.planManagement(ctx, leaf)
	if err != nil {
		return ch, err
	}
	s.mgmt = mp
	ch.Notes = append(ch.Notes, notes...)
	if s.webOn {
		// Console TLS is on from an earlier run: only the Management
		// Service's truststore may be missing.
		if mp.trust {
			ch.Items = append(ch.Items, items...)
			ch.Add(Item{Kind: KindService, Target: "Cloudera Management Service restart (API, awaited)"})
		}
		return ch, nil
	}
	ch.Items = append(ch.Items, items...)
	ch.Add(Item{Kind: KindSetting, Target: settingWebTLS, Old: orFalse(it.Value), New: "true", Note: "Use TLS Encryption for Admin Console"})
	ch.Add(Item{Kind: KindService, Target: env.Answers.Server.RestartCommand})
	ch.Add(Item{Kind: KindCheck, Target: "console TLS port (from the plain console's redirect) serves the server certificate"})
	if mp.exists {
		ch.Add(Item{Kind: KindService, Target: "Cloudera Management Service restart (API, awaited)"})
	}
	return ch, nil
}

// level2Now checks, without waiting, that Steps 1-6 hold: AGENT_TLS on
// and every agent heartbeating recently over verified TLS. "" means they do.
func (e *Env) level2Now(ctx context.Context) string {
	if !e.agentTLSOn(ctx) {
		return "AGENT_TLS is off"
	}
	hosts, err := e.API.Hosts(ctx)
	if err != nil {
		return "the hosts API does not answer: " + err.Error()
	}
	since := e.Now().Add(-e.heartbeatTimeout())
	inis := &iniCache{m: map[string]*AgentINI{}}
	for _, a := range e.live() {
		if ok, why := e.heartbeatOK(ctx, a, hosts, since, wantVerifiedTLS, true, inis); !ok {
			return a.Name + ": " + why
		}
	}
	if len(e.Failed()) > 0 {
		return "some agent hosts failed"
	}
	return ""
}

func (s *ConsoleTLS) Apply(ctx context.Context, env *Env) error {
	pem, _, err := env.serverPEM()
	if err != nil {
		return err
	}
	if s.webOn {
		if !s.mgmt.trust {
			return nil
		}
		if err := env.writeTruststore(ctx, &s.mgmt, pem); err != nil {
			return err
		}
		return env.restartManagement(ctx, s.Name())
	}
	for _, id := range level2Steps {
		if env.isSelected(id) && !env.isVerified(id) {
			return &RefusedError{Step: s.Name(), Reason: lockoutReason + " (" + id + " is not verified)", Fix: "fix the earlier step and re-run"}
		}
	}
	if f := env.Failed(); len(f) > 0 {
		// The failed hosts decide the exit code (3); a re-run that
		// finishes them also does Step 7.
		return &SkipError{Reason: fmt.Sprintf("not turned on: %d agent host(s) failed, and %s; re-run once they are fixed", len(f), lockoutReason)}
	}
	// Everything WEB_TLS needs is checked and in place before it goes on.
	if err := env.checkKeystoreAccess(ctx, s.Name(), "WEB_TLS was not turned on"); err != nil {
		return err
	}
	if s.mgmt.trust {
		if err := env.writeTruststore(ctx, &s.mgmt, pem); err != nil {
			return err
		}
		env.report(Event{Step: s.Name(), Host: env.serverName(), Phase: PhaseApply, Status: StatusProgress,
			Detail: "the Cloudera Management Service trusts the server certificate through " + s.mgmt.path})
	}
	if err := env.API.SetConfig(ctx, map[string]string{settingWebTLS: "true"}); err != nil {
		return fmt.Errorf("set WEB_TLS: %w", err)
	}
	cmd := env.Answers.Server.RestartCommand
	env.report(Event{Step: s.Name(), Host: env.serverName(), Phase: PhaseApply, Status: StatusProgress, Detail: "running " + cmd})
	env.Done().ServerRestarted(env.Now())
	work, stop := InFlight(ctx)
	res, err := env.Server.Run(work, cmd, nil)
	stop()
	if err != nil {
		return fmt.Errorf("restart the server: %w", err)
	}
	if res.Code != 0 {
		return fmt.Errorf("%s exited %d: %s", cmd, res.Code, strings.TrimSpace(string(res.Stderr)))
	}
	tlsBase, err := env.waitRedirect(ctx)
	if err != nil {
		return err
	}
	// The certificate names server.host: reach the TLS console by that
	// name, on the port the redirect gave.
	tlsBase.Host = net.JoinHostPort(env.Answers.Server.Host, tlsBase.Port())
	if err := env.switchAPI(tlsBase, pem); err != nil {
		return err
	}
	if err := env.waitAPI(ctx, s.Name()); err != nil {
		return err
	}
	env.report(Event{Step: s.Name(), Host: env.serverName(), Phase: PhaseApply, Status: StatusWarn, Detail: UndoConsoleTLS})
	if s.mgmt.exists {
		if err := env.restartManagement(ctx, s.Name()); err != nil {
			return err
		}
	}
	return nil
}

// plainConsole is the console's plain http base URL.
func (e *Env) plainConsole() (*url.URL, error) {
	u, err := url.Parse(e.Answers.Server.API.URL)
	if err != nil {
		return nil, err
	}
	b := &url.URL{Scheme: "http", Host: u.Host}
	if u.Scheme == "https" {
		host := u.Hostname()
		if u.Port() == "7183" || u.Port() == "" {
			b.Host = net.JoinHostPort(host, "7180")
		} else {
			return nil, fmt.Errorf("cannot tell the plain console port from %s", u)
		}
	}
	return b, nil
}

// consoleLocator is the part of the CM API client that asks the plain
// console where its TLS console is (*cmapi.Client has it).
type consoleLocator interface {
	TLSConsoleURL(ctx context.Context) (string, error)
}

// redirectTarget GETs the plain console and returns where it redirects
// (an https URL, on whatever port CM's redirect names), or an error saying
// what it did instead.
func (e *Env) redirectTarget(ctx context.Context) (*url.URL, error) {
	base, err := e.plainConsole()
	if err != nil {
		return nil, err
	}
	plain := e.PlainAPI
	if plain == nil {
		plain = e.API
	}
	if cl, ok := plain.(consoleLocator); ok && e.Answers.Server.API.URL != "" && strings.HasPrefix(e.Answers.Server.API.URL, "http:") {
		s, err := cl.TLSConsoleURL(ctx)
		if err != nil {
			return nil, err
		}
		if s == "" {
			return nil, fmt.Errorf("%s answers without a redirect to https", base)
		}
		return url.Parse(s)
	}
	hc := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base.String()+"/", nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode < 300 || resp.StatusCode > 399 || loc == "" {
		return nil, fmt.Errorf("%s answers %d without a redirect", base, resp.StatusCode)
	}
	to, err := base.Parse(loc)
	if err != nil || to.Scheme != "https" {
		return nil, fmt.Errorf("%s redirects to %q, not to https", base, loc)
	}
	return &url.URL{Scheme: "https", Host: to.Host}, nil
}

// waitRedirect waits until the restarted server's plain console redirects
// to its TLS port, and returns the TLS base URL.
func (e *Env) waitRedirect(ctx context.Context) (*url.URL, error) {
	deadline := e.Now().Add(e.apiTimeout())
	for {
		to, err := e.redirectTarget(ctx)
		if err == nil {
			return to, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !e.Now().Before(deadline) {
			return nil, &HostError{Host: e.Server.Name(), Step: "console-tls", Err: fmt.Errorf("the console did not come back redirecting to TLS: %w", err), Fix: UndoConsoleTLS}
		}
		if err := e.sleep(ctx, e.pollInterval()); err != nil {
			return nil, err
		}
	}
}

// switchAPI moves the API client to the console's TLS URL, trusting the
// server certificate.
func (e *Env) switchAPI(base *url.URL, pem []byte) error {
	if e.NewAPI == nil {
		return errors.New("no way to reach the API over TLS")
	}
	api, err := e.NewAPI(base.String(), pem)
	if err != nil {
		return fmt.Errorf("API over TLS: %w", err)
	}
	if e.PlainAPI == nil {
		// kept to ask the plain console where it redirects
		e.PlainAPI = e.API
	}
	e.API = api
	return nil
}

func (s *ConsoleTLS) Verify(ctx context.Context, env *Env) error {
	if env.Answers.TLS == nil || !env.Answers.TLS.AdminConsole {
		return nil
	}
	var to *url.URL
	how := "; the plain console redirects to it"
	if u, err := url.Parse(env.Answers.Server.API.URL); err == nil && u.Scheme == "https" {
		// The answers file names the TLS console itself: check it there
		// rather than guess the plain port.
		to, how = &url.URL{Scheme: "https", Host: u.Host}, " (server.api.url)"
	} else if to, err = env.redirectTarget(ctx); err != nil {
		return fmt.Errorf("console TLS: %w", err)
	}
	_, leaf, err := env.serverPEM()
	if err != nil {
		return err
	}
	host := to.Host
	if to.Port() == "" {
		host = net.JoinHostPort(to.Hostname(), "443")
	}
	got, err := servedCert(ctx, host)
	if err != nil {
		return fmt.Errorf("console TLS port %s: %w", host, err)
	}
	if !got.Equal(leaf) {
		return fmt.Errorf("console TLS port %s serves another certificate (%s)", host, describeCert(got))
	}
	env.report(Event{Step: s.Name(), Host: env.serverName(), Phase: PhaseVerify, Status: StatusProgress,
		Detail: fmt.Sprintf("%s serves the server certificate%s", to, how)})
	if s.mgmt.trust {
		ma, _ := env.API.(ManagementAPI)
		if ma == nil {
			return errors.New("the API client cannot read the Cloudera Management Service settings back")
		}
		cfg, err := ma.ServiceConfig(ctx)
		if err != nil {
			return fmt.Errorf("read the Cloudera Management Service settings back: %w", err)
		}
		if it, _ := cmapi.FindByName(cfg, settingCMSTruststore); it.Value != s.mgmt.path {
			return fmt.Errorf("the Cloudera Management Service's %s is %q, want %q", settingCMSTruststore, it.Value, s.mgmt.path)
		}
		if !env.truststoreHolds(ctx, s.mgmt.path, leaf, s.mgmt.pass) {
			return fmt.Errorf("%s on the CM server does not hold the server certificate", s.mgmt.path)
		}
		env.report(Event{Step: s.Name(), Host: env.serverName(), Phase: PhaseVerify, Status: StatusProgress,
			Detail: "the Cloudera Management Service's truststore " + s.mgmt.path + " holds the server certificate"})
	}
	return nil
}

// FollowConsoleTLS moves the API client to https when the plain console
// URL of the answers file already redirects there (console TLS is on from
// an earlier run), trusting the server's certificate. It keeps the plain
// client as PlainAPI. Nothing happens when the console does not redirect.
func (e *Env) FollowConsoleTLS(ctx context.Context) error {
	e.init()
	if e.PlainAPI == nil {
		e.PlainAPI = e.API
	}
	if u, err := url.Parse(e.Answers.Server.API.URL); err != nil || u.Scheme != "http" {
		return nil
	}
	to, err := e.redirectTarget(ctx)
	if err != nil {
		return nil
	}
	to.Host = net.JoinHostPort(e.Answers.Server.Host, to.Port())
	pem, _, err := readServerPEM(ctx, e)
	if err != nil {
		return &InputError{Err: err, Fix: "the console redirects to TLS: cmtls trusts it through server.pem_path, which must hold the server certificate"}
	}
	return e.switchAPI(to, pem)
}
