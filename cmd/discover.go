package cmd

import (
	"context"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/cmtls/cmtls/remote/cmapi"
	"github.com/cmtls/cmtls/remote/inventory"
	"github.com/cmtls/cmtls/steps/answers"
	"github.com/cmtls/cmtls/wizard"
)

// completeDiscovered adds to what the wizards start from: a check of the
// CM API credentials when they are typed, whether the Admin Console is
// already on https (an init answers file here that turned it on, or
// something listening on 7183), and checks of the files the user names.
func completeDiscovered(ctx context.Context, f *Factory, d *wizard.Discovered, base string) {
	d.CheckAPI = func(ctx context.Context, a answers.API) error {
		c, err := wizardAPIClient(f, a, base)
		if err != nil {
			return err
		}
		_, err = c.CMVersion(ctx)
		return err
	}
	d.CheckInventory = func(p string) error {
		b, err := os.ReadFile((&answers.File{Dir: base}).ExpandPath(p))
		if err != nil {
			return fmt.Errorf("cannot read the inventory: %v", unwrapPathError(err))
		}
		hs, err := inventory.Parse(b)
		if err != nil {
			return fmt.Errorf("not an Ansible inventory (INI or YAML): %v", err)
		}
		if len(hs) == 0 {
			return fmt.Errorf("the inventory lists no hosts")
		}
		return nil
	}
	d.CheckFile = func(p string) error {
		fh, err := os.Open((&answers.File{Dir: base}).ExpandPath(p))
		if err != nil {
			return fmt.Errorf("cannot read it: %v", unwrapPathError(err))
		}
		return fh.Close()
	}
	if prev, err := answers.Load(defaultAnswersFile); err == nil && prev.TLS != nil && prev.TLS.AdminConsole {
		d.ConsoleTLS = true
		d.CAFile = answers.DefaultPEMPath
		if prev.Server != nil && prev.Server.PEMPath != "" {
			d.CAFile = prev.Server.PEMPath
		}
		return
	}
	if d.FQDN != "" {
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		var nd net.Dialer
		if c, err := nd.DialContext(dctx, "tcp", net.JoinHostPort(d.FQDN, "7183")); err == nil {
			_ = c.Close()
			d.ConsoleTLS = true
			d.CAFile = answers.DefaultPEMPath
		}
	}
}

// wizardAPIClient is a CM API client for the answers typed so far (a
// password given by reference is read first).
func wizardAPIClient(f *Factory, a answers.API, base string) (*cmapi.Client, error) {
	pw := a.Password
	if err := pw.Resolve(f.LookupEnv, base); err != nil {
		return nil, fmt.Errorf("server.api.password: %w", err)
	}
	var opts []cmapi.Option
	if a.CAFile != "" {
		opts = append(opts, cmapi.WithCAFile((&answers.File{Dir: base}).ExpandPath(a.CAFile)))
	}
	if a.Version != "" {
		opts = append(opts, cmapi.WithAPIVersion(a.Version))
	}
	return f.API(a.URL, a.User, pw.Value(), opts...)
}
