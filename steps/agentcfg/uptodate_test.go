package agentcfg

import (
	"testing"

	"github.com/cmtls/cmtls/steps/ini"
)

// UpToDate agrees with Plan: a host Plan finds nothing to do on is up to
// date, one with any difference (a key, the PEM, a restart owed) is not.
func TestUpToDateAgreesWithPlan(t *testing.T) {
	t.Parallel()
	stock := []byte("[General]\nserver_host=cm1\n[Security]\nuse_tls=0\n# verify_cert_file=\n")
	pem := []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
	spec := Spec{PEM: pem, PEMDest: "/etc/cmf/server.pem", ConfigPath: "/etc/a.ini", UseTLS: true}
	done, _, _, err := ini.Set(stock, Section, spec.kvs())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		config  []byte
		pem     []byte
		exists  bool
		pending bool
		want    bool
	}{
		{"done", done, pem, true, false, true},
		{"stock config", stock, pem, true, false, false},
		{"no pem", done, nil, false, false, false},
		{"other pem", done, append([]byte("x"), pem...), true, false, false},
		{"restart owed", done, pem, true, true, false},
		{"no [Security]", []byte("[General]\n"), pem, true, false, false},
	} {
		if got := spec.UpToDate(c.config, c.pem, c.exists, c.pending); got != c.want {
			t.Errorf("%s: UpToDate = %v, want %v", c.name, got, c.want)
		}
	}
}
