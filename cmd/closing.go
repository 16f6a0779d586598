package cmd

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/cmtls/cmtls/pki"
	"github.com/cmtls/cmtls/steps"
	"github.com/cmtls/cmtls/steps/agentcfg"
	"github.com/cmtls/cmtls/steps/answers"
	samlsteps "github.com/cmtls/cmtls/steps/saml"
	"github.com/cmtls/cmtls/wizard"
)

// serverCertClosing fills c's certificate from what the server now
// presents (server.pem_path, read on this machine or over server.ssh). A
// certificate that cannot be read is left out (the run itself already
// verified it).
func serverCertClosing(ctx context.Context, f *Factory, file *answers.File, acceptNew bool, c *wizard.Closing) {
	s := file.Server
	if s == nil || s.PEMPath == "" {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	h, err := dialServer(rctx, f, file, acceptNew)
	if err != nil {
		return
	}
	defer h.Close()
	if b, err := h.ReadFile(rctx, s.PEMPath); err == nil {
		if certs, err := pki.ParseCertificates(b); err == nil && len(certs) > 0 {
			c.Subject = certs[0].Subject.String()
			c.SHA256 = pki.SHA256Fingerprint(certs[0])
			c.NotAfter = certs[0].NotAfter
		}
	}
}

// initClosing gathers the end of an init run for the operator: the
// certificate the server now presents, where each agent's pre-cmtls
// config.ini is kept, and the next commands.
func initClosing(ctx context.Context, f *Factory, file *answers.File, res *steps.Result, answersPath string, acceptNew bool) wizard.Closing {
	var c wizard.Closing
	serverCertClosing(ctx, f, file, acceptNew, &c)
	c.Backups = origBackups(file, res)
	ans := answersFlag(answersPath)
	c.Next = []wizard.NextCommand{
		{Command: "cmtls status " + ans, Why: "health check: every agent heartbeats over verified TLS"},
		{Command: "cmtls saml configure", Why: "next procedure: CM as a SAML service provider"},
		{Command: "cmtls rollback " + ans + " --yes", Why: "undo: puts config.ini and CM's settings back"},
	}
	return c
}

// origBackups names, grouped by path, each agent's config.ini original
// (kept once, before cmtls first changed it) on the hosts not failed.
func origBackups(file *answers.File, res *steps.Result) []string {
	if res == nil || file.Agents == nil {
		return nil
	}
	cfgOf := map[string]string{}
	for _, a := range file.AgentHosts() {
		cfgOf[a.Name] = a.ConfigPath
	}
	var paths, out []string
	on := map[string][]string{}
	for _, h := range res.Hosts {
		if h.Status == steps.StatusFailed {
			continue
		}
		p := cfgOf[h.Host]
		if p == "" {
			p = file.Agents.ConfigPath
		}
		if p == "" {
			continue
		}
		p = agentcfg.OrigPath(p)
		if on[p] == nil {
			paths = append(paths, p)
		}
		on[p] = append(on[p], h.Host)
	}
	for _, p := range paths {
		out = append(out, fmt.Sprintf("%s on %s", p, strings.Join(on[p], ", ")))
	}
	return out
}

func answersFlag(answersPath string) string {
	if answersPath == "" {
		return "--answers FILE"
	}
	return "--answers " + answersPath
}

// renewClosing: the certificate the server presents now, where the
// keystore it replaced is kept, and what to run next.
func renewClosing(ctx context.Context, f *Factory, file *answers.File, answersPath string, acceptNew, rollback bool) wizard.Closing {
	var c wizard.Closing
	serverCertClosing(ctx, f, file, acceptNew, &c)
	ans := answersFlag(answersPath)
	if ks := file.Server.Keystore; ks != nil && ks.Path != "" && !rollback {
		c.Backups = append(c.Backups, ks.Path+".cmtls-renew-previous on "+file.Server.Host+" (the keystore replaced; renew --rollback goes back to it)")
	}
	c.Next = []wizard.NextCommand{
		{Command: "cmtls status " + ans, Why: "health check: every agent heartbeats over verified TLS"},
		{Command: "cmtls check " + ans, Why: "monitoring: days left on the new certificate"},
	}
	if rollback {
		c.Next = append(c.Next, wizard.NextCommand{Command: "cmtls renew " + ans + " --yes", Why: "renew again when the cause is fixed"})
	} else {
		c.Next = append(c.Next, wizard.NextCommand{Command: "cmtls renew " + ans + " --yes --rollback", Why: "undo: back to the certificate from before this renewal"})
	}
	return c
}

// rollbackClosing: what stays behind and what to run next.
func rollbackClosing(answersPath string) wizard.Closing {
	ans := answersFlag(answersPath)
	var c wizard.Closing
	c.Next = []wizard.NextCommand{
		{Command: "cmtls init " + ans + " --dry-run", Why: "what going back to TLS level 2 would change (the server's keystore, DER and PEM were left in place)"},
		{Command: "cmtls init " + ans + " --yes", Why: "back to TLS level 2 when ready"},
	}
	return c
}

// samlClosing: where the replaced values are recorded and what to run
// next, after saml configure or saml rollback.
func samlClosing(answersPath string, rollback bool, sres *samlsteps.Result) wizard.Closing {
	ans := answersFlag(answersPath)
	var c wizard.Closing
	if rollback {
		c.Next = []wizard.NextCommand{
			{Command: "cmtls saml configure " + ans + " --dry-run", Why: "what configuring SAML again would change"},
		}
		return c
	}
	if sres != nil && sres.StateFile != "" {
		c.Backups = append(c.Backups, sres.StateFile+" (the settings and role mappings configure replaced)")
	}
	if sres == nil || !sres.LoginsVerified {
		c.Next = append(c.Next, wizard.NextCommand{Command: "add users under saml.verify.logins and run cmtls saml configure " + ans + " --yes", Why: "verify real logins through the IdP"})
	}
	c.Next = append(c.Next, wizard.NextCommand{Command: "cmtls saml rollback " + ans + " --yes", Why: "undo: CM's authentication as it was"})
	return c
}

// printClosing prints the closing lines of an init run that applied and
// verified its changes.
func printClosing(ctx context.Context, f *Factory, file *answers.File, res *steps.Result, answersPath string, acceptNew bool) {
	c := initClosing(ctx, f, file, res, answersPath, acceptNew)
	fmt.Fprint(f.Out, strings.TrimRight(c.Text(80, f.now()), "\n")+"\n")
}

// printCommandClosing prints the closing lines of a run of command that
// applied and verified its changes: what was done, the certificate, the
// backups and the next commands.
func printCommandClosing(ctx context.Context, f *Factory, command string, file *answers.File, res *steps.Result, answersPath string, acceptNew bool) {
	var c wizard.Closing
	switch command {
	case "init":
		printClosing(ctx, f, file, res, answersPath, acceptNew)
		return
	case "renew":
		c = renewClosing(ctx, f, file, answersPath, acceptNew, false)
	case "renew --rollback":
		c = renewClosing(ctx, f, file, answersPath, acceptNew, true)
	case "rollback":
		c = rollbackClosing(answersPath)
	default:
		return
	}
	fmt.Fprint(f.Out, strings.TrimRight(c.Text(80, f.now()), "\n")+"\n")
}
