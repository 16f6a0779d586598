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
	"github.com/cmtls/cmtls/wizard"
)

// initClosing gathers the end of an init run for the operator: the
// certificate the server now presents (read from server.pem_path, on this
// machine or over server.ssh), where each agent's pre-cmtls config.ini is
// kept, and the next commands. A certificate that cannot be read is left
// out (the run itself already verified it).
func initClosing(ctx context.Context, f *Factory, file *answers.File, res *steps.Result, answersPath string, acceptNew bool) wizard.Closing {
	var c wizard.Closing
	if s := file.Server; s != nil && s.PEMPath != "" {
		rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if h, err := dialServer(rctx, f, file, acceptNew); err == nil {
			if b, err := h.ReadFile(rctx, s.PEMPath); err == nil {
				if certs, err := pki.ParseCertificates(b); err == nil && len(certs) > 0 {
					c.Subject = certs[0].Subject.String()
					c.SHA256 = pki.SHA256Fingerprint(certs[0])
					c.NotAfter = certs[0].NotAfter
				}
			}
			_ = h.Close()
		}
	}
	if res != nil && file.Agents != nil {
		// each verified host's config.ini original, grouped by path
		cfgOf := map[string]string{}
		for _, a := range file.AgentHosts() {
			cfgOf[a.Name] = a.ConfigPath
		}
		var paths []string
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
			c.Backups = append(c.Backups, fmt.Sprintf("%s on %s", p, strings.Join(on[p], ", ")))
		}
	}
	ans := "--answers " + answersPath
	if answersPath == "" {
		ans = "--answers FILE"
	}
	c.Next = []wizard.NextCommand{
		{Command: "cmtls status " + ans, Why: "health check: every agent heartbeats over verified TLS"},
		{Command: "cmtls saml configure", Why: "next procedure: CM as a SAML service provider"},
		{Command: "cmtls rollback " + ans + " --yes", Why: "undo: puts config.ini and CM's settings back"},
	}
	return c
}

// printClosing prints the closing lines of a run that applied and
// verified its changes.
func printClosing(ctx context.Context, f *Factory, file *answers.File, res *steps.Result, answersPath string, acceptNew bool) {
	c := initClosing(ctx, f, file, res, answersPath, acceptNew)
	fmt.Fprint(f.Out, strings.TrimRight(c.Text(80, f.now()), "\n")+"\n")
}
