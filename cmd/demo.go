package cmd

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cmtls/cmtls/daemon/agent"
	"github.com/cmtls/cmtls/daemon/sandbox"
	"github.com/cmtls/cmtls/remote/browser"
	"github.com/cmtls/cmtls/steps"
	"github.com/cmtls/cmtls/steps/answers"
	samlsteps "github.com/cmtls/cmtls/steps/saml"
)

type demoOptions struct {
	f      *Factory
	agents int
	keep   bool
}

func newDemoCmd(f *Factory, runF func(context.Context, *demoOptions) error) *cobra.Command {
	o := &demoOptions{f: f}
	c := &cobra.Command{
		Use:   "demo",
		Short: "Run the whole job on an embedded sandbox, then tear it down",
		Long: `demo starts a sandbox (one embedded CM server and agents on 127.0.0.1, each agent
host reachable over SSH) in a temporary directory, runs 'cmtls init' headless against it,
shows every agent heartbeating over TLS verified against the pushed PEM, shows one more
agent refusing the certificate because its server_host does not match it (the WrongHost
check is real), then runs 'cmtls saml configure' headless against the sandbox's test
IdP and shows one SAML login each for an admin, a regular user and an unmapped user
(the not-authorized page), and tears everything down.`,
		Args: cobraArgs(cobra.NoArgs),
		RunE: func(c *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(c.Context(), o)
			}
			return runDemo(c.Context(), o)
		},
	}
	c.Flags().IntVar(&o.agents, "agents", 3, "number of agent hosts in the sandbox")
	c.Flags().BoolVar(&o.keep, "keep", false, "leave the sandbox running and its directory in place")
	return c
}

func runDemo(ctx context.Context, o *demoOptions) (err error) {
	f := o.f
	start := time.Now()
	if o.agents < 1 || o.agents > 50 {
		return usageErrorf("use --agents between 1 and 50", "invalid value %d for --agents", o.agents)
	}
	dir, err := os.MkdirTemp("", "cmtls-demo-")
	if err != nil {
		return err
	}
	// The sub-commands tell their story on stderr; stdout gets the demo's
	// own print-out.
	sub := *f
	sub.Out = f.ErrOut
	out := f.Out
	step := func(format string, args ...any) {
		fmt.Fprintf(out, "\n== "+format+"\n", args...)
	}

	step("1. sandbox: a CM server and %d agent hosts on 127.0.0.1 (%s)", o.agents, dir)
	// The SAML part writes CM 5's "SAML Attribute Values for ROLE_*"
	// settings: the demo runs on the CM 5 profile until saml configure
	// maps roles through CM 7's external user mappings.
	if code := Run(ctx, &sub, []string{"sandbox", "up", "--dir", dir, "--agents", strconv.Itoa(o.agents)}); code != 0 {
		_ = os.RemoveAll(dir)
		return fmt.Errorf("sandbox up exited %d", code)
	}
	if !o.keep {
		defer func() {
			step("tear down")
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if code := Run(dctx, &sub, []string{"sandbox", "down", "--dir", dir}); code != 0 && err == nil {
				err = fmt.Errorf("sandbox down exited %d", code)
			}
			_ = os.RemoveAll(dir)
			fmt.Fprintf(out, "sandbox stopped and %s removed\n", dir)
			if err == nil {
				fmt.Fprintf(out, "\ndemo done in %s\n", time.Since(start).Round(100*time.Millisecond))
			}
		}()
	}
	answersPath := filepath.Join(dir, "answers.yaml")

	step("2. cmtls init --answers %s --yes (Steps 1-7, headless)", answersPath)
	if err := runInit(ctx, &initOptions{f: &sub, answersPath: answersPath, yes: true}); err != nil {
		return fmt.Errorf("init: %w", err)
	}

	step("3. every agent heartbeats over TLS, verifying the server certificate against the pushed PEM")
	file, err := loadAnswers(&sub, answersPath, (*answers.File).ValidateInit)
	if err != nil {
		return err
	}
	if err := demoShowAgents(ctx, &sub, out, file); err != nil {
		return err
	}

	step("4. the check is real: an agent whose server_host does not match the certificate refuses it")
	if err := demoWrongHost(ctx, out, file); err != nil {
		return err
	}

	// SAML after TLS, as a site would: the console is on https now, so
	// the SAML answers are written again for it.
	samlPath, consoleTLS, err := sandbox.WriteSAMLAnswers(dir)
	if err != nil {
		return err
	}
	step("5. cmtls saml configure --answers %s --yes (SAML single sign-on, headless)", samlPath)
	res, err := runSAMLHeadless(ctx, &samlOptions{f: &sub, answersPath: samlPath, yes: true}, &steps.Collector{})
	if err != nil {
		return fmt.Errorf("saml configure: %w", err)
	}
	if err := demoSAML(out, dir, consoleTLS, res); err != nil {
		return err
	}
	if err := demoLogout(ctx, out, dir); err != nil {
		return err
	}

	if o.keep {
		fmt.Fprintf(out, "\ndemo done in %s; the sandbox keeps running: cmtls sandbox down --dir %s\n", time.Since(start).Round(100*time.Millisecond), dir)
	}
	return nil
}

// demoSAML prints the SAML part: where the IdP gets CM's metadata and how
// each sandbox user's login through the test IdP ended.
func demoSAML(out io.Writer, dir string, consoleTLS bool, res *samlsteps.Result) error {
	m, err := sandbox.ReadMarker(dir)
	if err != nil {
		return err
	}
	console, _ := sandbox.ConsoleURL(sandbox.NewLayout(dir), m)
	scheme := "plain HTTP"
	if consoleTLS {
		scheme = "TLS, verified against the pushed PEM"
	}
	fmt.Fprintf(out, "SP metadata: %s/saml/metadata (console over %s; saved to %s)\n", console, scheme, res.Metadata)
	fmt.Fprintf(out, "IdP: the sandbox's test IdP at %s; it loads CM's metadata from the console's /saml/metadata by itself\n", sandbox.IdPURL(m.Ports["idp"]))
	ou := map[string]string{}
	for _, u := range sandbox.IdPUsers {
		ou[u.Name] = u.OU
	}
	var bad []string
	for _, l := range res.Logins {
		what := "logged in as " + l.Got
		if l.Got == "unauthorized" {
			what = "lands on the not-authorized page"
		}
		fmt.Fprintf(out, "  %-8s (ou=%-9s) SAML login through the IdP: %s (expected %s)\n", l.User, ou[l.User], what, l.Expect)
		if !l.OK {
			bad = append(bad, l.User)
		}
	}
	if len(res.Logins) == 0 || len(bad) > 0 {
		return fmt.Errorf("SAML logins not as expected: %s", strings.Join(bad, ", "))
	}
	return nil
}

// demoLogout logs alice in through the console in a fresh browser, clicks
// the console's Logout and shows that it was Single Logout: the next visit
// asks the IdP for the password again.
func demoLogout(ctx context.Context, out io.Writer, dir string) error {
	l := sandbox.NewLayout(dir)
	m, err := sandbox.ReadMarker(dir)
	if err != nil {
		return err
	}
	base, tlsOn := sandbox.ConsoleURL(l, m)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if tlsOn {
		pemData, err := os.ReadFile(l.PEM)
		if err != nil {
			return err
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pemData)
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	defer tr.CloseIdleConnections()
	pw, err := os.ReadFile(l.IdPPassword("alice"))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	b := browser.NewBrowser(tr)
	p, err := b.Get(ctx, base+"/cmf/home")
	if err == nil {
		p, err = b.Login(ctx, p, "alice", strings.TrimSpace(string(pw)))
	}
	if err != nil || !strings.Contains(p.Body, "Logged in as alice (ADMIN)") {
		return fmt.Errorf("alice's console login did not reach the home page: %v", err)
	}
	// Logout asks first (a GET ends nothing: logout CSRF); the browser
	// confirms the form as a person clicking "Log out" would.
	p, err = b.Confirm(ctx, base+"/cmf/logout")
	const slo = "You are logged out of Cloudera Manager and the identity provider."
	if err != nil || !strings.Contains(p.Body, slo) {
		return fmt.Errorf("the console's Logout was not Single Logout: %v", err)
	}
	fmt.Fprintf(out, "  alice clicks Logout on %s/cmf/home: %q\n", base, slo)
	if p, err = b.Get(ctx, base+"/cmf/home"); err != nil || !strings.Contains(p.Body, `type="password"`) {
		return fmt.Errorf("after Single Logout the IdP did not ask for the password again: %v", err)
	}
	fmt.Fprintln(out, "  the next visit goes to the IdP's login form again: the IdP session ended too")
	return nil
}

// demoWrongHost runs one heartbeat of an extra agent whose config.ini names
// the server by 127.0.0.1 while the certificate names server.host, and
// prints the agent's log line: the agent refuses the certificate.
func demoWrongHost(ctx context.Context, out interface{ Write([]byte) (int, error) }, file *answers.File) error {
	hosts := file.AgentHosts()
	if len(hosts) == 0 {
		return errors.New("no agent in the sandbox")
	}
	cfg, err := agent.LoadConfig(hosts[0].ConfigPath)
	if err != nil {
		return err
	}
	wrong := "127.0.0.1"
	if file.Server.Host == wrong {
		wrong = "localhost"
	}
	cfg.ServerHost = wrong
	cfg.ListeningHostname, cfg.ReportedHostname = "agent-wronghost", ""
	cfg.LogFile, cfg.LibDir = "", ""
	var log bytes.Buffer
	a, err := agent.New(agent.Options{Config: cfg, Log: &log, Timeout: 5 * time.Second})
	if err != nil {
		return err
	}
	res := a.Heartbeat(ctx)
	fmt.Fprintf(out, "  config.ini: server_host=%s use_tls=1 verify_cert_file=%s (certificate CN=%s)\n", wrong, cfg.VerifyCertFile, file.Server.Host)
	if res.OK {
		return errors.New("the agent accepted a certificate that does not name its server_host")
	}
	for _, l := range strings.Split(strings.TrimSpace(log.String()), "\n") {
		fmt.Fprintf(out, "  agent log: %s\n", l)
	}
	return nil
}

// demoShowAgents prints the status of every agent and fails unless each is
// verified with a fresh heartbeat.
func demoShowAgents(ctx context.Context, f *Factory, out io.Writer, file *answers.File) error {
	env, err := newTLSEnv(ctx, f, file, false, nil)
	if err != nil {
		return err
	}
	defer env.Close()
	if err := env.FollowConsoleTLS(ctx); err != nil {
		return err
	}
	r := steps.ReadStatus(ctx, env)
	fmt.Fprintf(out, "server certificate: %s, SAN [%s], expires %s\n", r.Server.CertSubject, r.Server.CertSANs, r.Server.CertNotAfter.Format(time.DateOnly))
	var bad []string
	for _, a := range r.Agents {
		fmt.Fprintf(out, "  %-12s server_host=%-10s use_tls=%s verify_cert_file=%s pem=server cert:%s last heartbeat %s over %s TLS\n",
			a.Host, a.ServerHost, a.UseTLS, a.VerifyCertFile, demoYesNo(a.PEMMatches), a.LastHeartbeat.Format(time.TimeOnly), a.TLS)
		if !a.Verified {
			bad = append(bad, a.Host+" ("+strings.Join(a.Problems, "; ")+")")
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("agents not on verified TLS: %s", strings.Join(bad, ", "))
	}
	return nil
}

func demoYesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
