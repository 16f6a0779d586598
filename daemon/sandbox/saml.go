package sandbox

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/cmtls/cmtls/daemon/cmserver"
	"github.com/cmtls/cmtls/daemon/idp"
	"github.com/cmtls/cmtls/pki"
	"github.com/cmtls/cmtls/steps/answers"
)

// The sandbox's SAML part: a test IdP process with three users, a SAML
// keystore for CM and DIR/saml-answers.yaml.
const (
	// SAMLAlias is the private key's alias in the SAML keystore.
	SAMLAlias = "cmsaml"
	// RoleAttribute is where the IdP releases the users' OU, and where CM
	// reads the role (the seed's "normal OID used for OrganizationalUnits").
	RoleAttribute = "urn:oid:2.5.4.11"
	AdminOU       = "cm-admins"
	UserOU        = "cm-users"
)

// IdPUser is a user of the sandbox's test IdP and the role CM must give
// it.
type IdPUser struct {
	Name, OU string
	// Expect is admin, user or unauthorized (saml.verify.logins).
	Expect string
}

// IdPUsers are the test IdP's users: one admin, one regular user and one
// whose OU CM does not map (the not-authorized page).
var IdPUsers = []IdPUser{
	{Name: "alice", OU: AdminOU, Expect: "admin"},
	{Name: "bob", OU: UserOU, Expect: "user"},
	{Name: "mallory", OU: "sales", Expect: "unauthorized"},
}

// IdPConfig is the test IdP's config file.
func (l Layout) IdPConfig() string { return filepath.Join(l.Dir, "idp", "idp.yaml") }

// IdPMetadata is the IdP metadata file the IdP writes at every start (what
// CM's "Path to SAML IDP Metadata File" names).
func (l Layout) IdPMetadata() string { return filepath.Join(l.Dir, "idp", "idp-metadata.xml") }

// IdPPassword is user's password file (0600).
func (l Layout) IdPPassword(user string) string { return filepath.Join(l.Secrets, "idp-"+user) }

// SAMLKeystore is CM's SAML signing/encryption keystore (JKS).
func (l Layout) SAMLKeystore() string { return filepath.Join(l.ServerDir, "saml.keystore") }

// SAMLKeystorePassword is the SAML keystore's (and its key's) password file.
func (l Layout) SAMLKeystorePassword() string {
	return filepath.Join(l.Secrets, "saml-keystore-password")
}

// idpService is the test IdP's background process.
func idpService(l Layout) Service {
	d := filepath.Dir(l.IdPConfig())
	return Service{Name: "cmtls-idp", Exe: l.Bin, Args: []string{"daemon", "idp", "run", "--config", l.IdPConfig()},
		PidFile: filepath.Join(d, "idp.pid"), OutFile: filepath.Join(d, "idp.out"), LogFile: filepath.Join(d, "idp.log")}
}

// setupSAML writes the IdP's config and users' passwords and CM's SAML
// keystore. The IdP loads CM's SP metadata by itself from the console
// (sp_metadata_url) the first time CM sends it a request, as a real IdP
// configured with the SP's metadata URL does: nothing has to hand it over.
// The console may have moved to TLS by then (`cmtls init`): the IdP follows
// its redirect and verifies it with the server certificate init writes
// (the PEM answers.yaml names), read at each fetch.
func setupSAML(l Layout, consolePort int, now time.Time) error {
	if err := os.MkdirAll(filepath.Dir(l.IdPConfig()), 0o755); err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString("bind: 127.0.0.1\nport: 0\n")
	fmt.Fprintf(&b, "sp_metadata_url: %s\nsp_metadata_ca_file: %s\nusers:\n", spMetadataURL(consolePort), l.PEM)
	for _, u := range IdPUsers {
		if err := os.WriteFile(l.IdPPassword(u.Name), []byte(randomPassword()+"\n"), 0o600); err != nil {
			return err
		}
		fmt.Fprintf(&b, "  - {name: %s, password_file: %s, ou: [%s]}\n", u.Name, l.IdPPassword(u.Name), u.OU)
	}
	if err := os.WriteFile(l.IdPConfig(), []byte(b.String()), 0o600); err != nil {
		return err
	}
	// Check it as the daemon will, so that a mistake here fails up, not
	// the background start.
	if _, err := idp.LoadFileConfig(l.IdPConfig()); err != nil {
		return err
	}
	pass := randomPassword()
	if err := os.WriteFile(l.SAMLKeystorePassword(), []byte(pass+"\n"), 0o600); err != nil {
		return err
	}
	ks, _, err := pki.GenerateKeystore(rand.Reader, "jks", SAMLAlias, "RSA", 2048,
		pki.CertOptions{Subject: pki.Name{CN: "cmtls sandbox SAML SP", O: "cmtls"}, ValidityDays: 365}, []byte(pass), now)
	if err != nil {
		return fmt.Errorf("saml keystore: %w", err)
	}
	return os.WriteFile(l.SAMLKeystore(), ks, 0o600)
}

// ConsoleURL is the console URL browsers use now: https on the reserved
// TLS port once console TLS is on (the plain port then redirects there),
// else http.
func ConsoleURL(l Layout, m *Marker) (u string, tls bool) {
	if st, err := cmserver.ReadState(filepath.Join(l.ServerDir, "state.json")); err == nil && st.Ports.HTTPS != 0 && listening(st.Ports.HTTPS) {
		if _, err := os.Stat(l.PEM); err == nil {
			return fmt.Sprintf("https://localhost:%d", st.Ports.HTTPS), true
		}
	}
	return fmt.Sprintf("http://localhost:%d", m.Ports["http"]), false
}

// SAMLAnswers is the answers file for `cmtls saml configure` against the
// sandbox in l, with the console at consoleURL (https: the API is
// verified against the server's PEM, which init pushed). server.pem_path
// is the PEM init writes, as in DIR/answers.yaml: a file written for the
// plain console still works after init turned console TLS on, since saml
// configure follows the redirect and trusts that PEM.
func SAMLAnswers(l Layout, m *Marker, consoleURL string) *answers.File {
	api := &answers.API{URL: consoleURL, User: adminUser, Password: answers.Secret{File: l.AdminPassword}}
	if strings.HasPrefix(consoleURL, "https:") {
		api.CAFile = l.PEM
	}
	f := &answers.File{
		Version: 1,
		Server: &answers.Server{
			Host:           "localhost",
			API:            api,
			PEMPath:        l.PEM,
			RestartCommand: fmt.Sprintf("%s daemon server restart --config %s", l.Bin, l.ServerConfig),
		},
		SAML: &answers.SAML{
			IdPMetadata: l.IdPMetadata(),
			Keystore: &answers.SAMLKeystore{Path: l.SAMLKeystore(), Type: "jks", Alias: SAMLAlias,
				Password:    answers.Secret{File: l.SAMLKeystorePassword()},
				KeyPassword: answers.Secret{File: l.SAMLKeystorePassword()}},
			EntityID:      answers.DefaultSAMLEntityID,
			EntityBaseURL: consoleURL,
			UserID:        &answers.UserID{From: "attribute"},
			Role: &answers.Role{From: "attribute", Attribute: RoleAttribute,
				AdminValues: []string{AdminOU}, UserValues: []string{UserOU}},
			Verify: &answers.SAMLVerify{},
		},
	}
	for _, u := range IdPUsers {
		f.SAML.Verify.Logins = append(f.SAML.Verify.Logins, answers.SAMLLogin{User: u.Name,
			Password: answers.Secret{File: l.IdPPassword(u.Name)}, Expect: u.Expect})
	}
	return f
}

// MarshalSAMLAnswers renders a SAML answers file and checks that it parses
// back and passes ValidateSAML.
func MarshalSAMLAnswers(f *answers.File) ([]byte, error) {
	b, err := yaml.Marshal(f)
	if err != nil {
		return nil, err
	}
	head := "# Written by `cmtls sandbox`: run `cmtls saml configure --answers <this file> --yes`.\n"
	if f.Server != nil && f.Server.API != nil && strings.HasPrefix(f.Server.API.URL, "http:") {
		head += "# For the plain console; it still works once `cmtls init` has turned console TLS on\n" +
			"# (saml configure follows the redirect to https and trusts server.pem_path).\n" +
			"# `cmtls sandbox saml-answers --dir <sandbox dir>` writes it again for https.\n"
	}
	b = append([]byte(head), b...)
	back, err := answers.Parse("saml-answers.yaml", b)
	if err != nil {
		return nil, fmt.Errorf("sandbox saml answers file does not parse: %w", err)
	}
	back.ApplyDefaults()
	if err := back.ValidateSAML(); err != nil {
		return nil, fmt.Errorf("sandbox saml answers file is not valid: %w", err)
	}
	return b, nil
}

// WriteSAMLAnswers (re)writes DIR/saml-answers.yaml for the console as it
// is now: `sandbox up` writes it for the plain console; after `cmtls init`
// turned console TLS on, this writes it again for https (`cmtls sandbox
// saml-answers`).
func WriteSAMLAnswers(dir string) (path string, consoleTLS bool, err error) {
	dir, err = filepath.Abs(dir)
	if err != nil {
		return "", false, err
	}
	m, err := ReadMarker(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", false, &StateError{Msg: fmt.Sprintf("no sandbox in %s", dir), Fix: "cmtls sandbox up --dir " + dir}
		}
		return "", false, err
	}
	l := NewLayout(dir)
	if _, err := os.Stat(l.IdPConfig()); err != nil {
		return "", false, &StateError{Msg: fmt.Sprintf("the sandbox in %s has no test IdP", dir), Fix: "make it again: cmtls sandbox down --dir " + dir + " && cmtls sandbox up --dir " + dir}
	}
	u, tls := ConsoleURL(l, m)
	b, err := MarshalSAMLAnswers(SAMLAnswers(l, m, u))
	if err != nil {
		return "", false, err
	}
	tmp := l.SAMLAnswers + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return "", false, err
	}
	return l.SAMLAnswers, tls, os.Rename(tmp, l.SAMLAnswers)
}

// idpPort reads the port the IdP chose (its state file).
func idpPort(l Layout) (int, error) {
	b, err := os.ReadFile(filepath.Join(filepath.Dir(l.IdPConfig()), "idp-state.json"))
	if err != nil {
		return 0, err
	}
	var st idp.State
	if err := json.Unmarshal(b, &st); err != nil || st.Port == 0 {
		return 0, fmt.Errorf("idp state: no port (%v)", err)
	}
	return st.Port, nil
}

// spMetadataURL is where the sandbox's IdP loads CM's SP metadata: the
// plain console, on the host name the server certificate names, so that
// its redirect to https verifies.
func spMetadataURL(consolePort int) string {
	return "http://" + net.JoinHostPort("localhost", strconv.Itoa(consolePort)) + "/saml/metadata"
}

// IdPURL is the test IdP's base URL.
func IdPURL(port int) string {
	return "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}
