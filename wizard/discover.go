package wizard

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// keystoreGlobs are where CM installs keep the server keystore.
var keystoreGlobs = []string{"/opt/cloudera/security/jks/*.keystore", "/opt/cloudera/security/jks/*.jks"}

// DiscoverLocal finds the defaults this machine can tell without asking
// anyone: its FQDN (the host name, made fully qualified through the
// resolver when it has no dot) and an existing keystore when exactly one
// sits in CM's usual directory. It is meant for runs on the CM server
// itself; the caller adds Hosts or LookupHosts from the CM API.
func DiscoverLocal(ctx context.Context) Discovered {
	var d Discovered
	h, err := os.Hostname()
	if err == nil {
		d.FQDN = h
		if !strings.Contains(h, ".") {
			lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			if c, err := net.DefaultResolver.LookupCNAME(lctx, h); err == nil {
				if c = strings.TrimSuffix(c, "."); strings.Contains(c, ".") {
					d.FQDN = c
				}
			}
		}
	}
	var found []string
	for _, g := range keystoreGlobs {
		m, _ := filepath.Glob(g)
		found = append(found, m...)
	}
	if len(found) == 1 {
		d.KeystorePath = found[0]
	}
	return d
}
