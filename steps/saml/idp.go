package saml

import (
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"

	"github.com/crewjam/saml"

	"github.com/cmtls/cmtls/remote/localfile"
	"github.com/cmtls/cmtls/steps"
	"github.com/cmtls/cmtls/steps/answers"
)

// spMetadata is what the run learned from /saml/metadata.
type spMetadata struct {
	EntityID string
	// ACS and SLO are the endpoints' locations, in metadata order;
	// ACSBindings and SLOBindings their bindings, index for index.
	ACS, ACSBindings []string
	SLO, SLOBindings []string
	Certs            []*x509.Certificate
}

func parseSPMetadata(b []byte) (*spMetadata, error) {
	if err := checkXML(b); err != nil {
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
			md.ACSBindings = append(md.ACSBindings, a.Binding)
		}
		for _, s := range d.SingleLogoutServices {
			md.SLO = append(md.SLO, s.Location)
			md.SLOBindings = append(md.SLOBindings, s.Binding)
		}
		certs, err := signingCerts(d.KeyDescriptors)
		if err != nil {
			return nil, err
		}
		md.Certs = append(md.Certs, certs...)
	}
	return md, nil
}

func (p *Procedure) metadataOut(f *answers.File) string {
	return cmp.Or(p.deps.MetadataOut, filepath.Join(f.Dir, "cm-saml-metadata.xml"))
}

// verifyIdP is "Configuring the IDP" 1-5: download CM's SP metadata and
// save it, check its URLs and say what the IdP needs. Giving the metadata
// to the IdP is the IdP administrator's part (or the IdP loads it from
// CM's metadata URL by itself); this run never writes to an IdP.
func (p *Procedure) verifyIdP(ctx context.Context, env *steps.Env) error {
	c := p.httpClient()
	u := consoleBase(env.Answers) + pathMetadata
	body, err := get(ctx, c, u)
	if err != nil {
		return &Error{Step: StepIdP, Err: fmt.Errorf("download %s: %w", u, err), Fix: "check that CM runs with External Authentication Type SAML and that server.api.url / saml.entity_base_url reach it"}
	}
	md, err := parseSPMetadata(body)
	if err != nil {
		return &Error{Step: StepIdP, Err: fmt.Errorf("%s: %w", u, err)}
	}
	out := p.metadataOut(env.Answers)
	if err := localfile.Write(out, body, 0o644); err != nil {
		return &Error{Step: StepIdP, Err: err}
	}
	p.Result.Metadata = out
	progress(env, StepIdP, "SP metadata saved to "+out)
	if want := cmp.Or(env.Answers.SAML.EntityID, defaultEntityID); md.EntityID != want {
		return &Error{Step: StepIdP, Err: fmt.Errorf("the served metadata has entity ID %q, not %q", md.EntityID, want), Fix: "CM still runs with older settings: restart it"}
	}
	// "Inspect the metadata file and ensure that any URLs contained in the
	// file can be resolved by users' web browsers."
	n, err := p.checkURLs(ctx, c, md)
	if err != nil {
		return err
	}
	progress(env, StepIdP, fmt.Sprintf("%d metadata URL(s) resolve and answer", n))
	p.Result.ForIdP = forIdP(env.Answers, md, out, u)
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

// checkURLs checks every URL of the metadata: its host resolves and its
// server answers. An assertion consumer URL is sent a GET (CM answers a
// POST-only endpoint without a message). A logout URL is not: a request
// there without a SAML message is a refused logout that CM logs as a
// warning, so its host is proven by the metadata URL of the same origin.
func (p *Procedure) checkURLs(ctx context.Context, c *http.Client, md *spMetadata) (int, error) {
	n := 0
	for _, loc := range md.ACS {
		if err := p.checkURL(ctx, c, loc, loc); err != nil {
			return n, urlErr(loc, err)
		}
		n++
	}
	for _, loc := range slices.Compact(slices.Clone(md.SLO)) {
		u, err := url.Parse(loc)
		if err != nil {
			return n, urlErr(loc, err)
		}
		probe := (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: pathMetadata}).String()
		if err := p.checkURL(ctx, c, loc, probe); err != nil {
			return n, urlErr(loc, err)
		}
		n++
	}
	return n, nil
}

func urlErr(loc string, err error) error {
	return &Error{Step: StepIdP, Err: fmt.Errorf("metadata URL %s: %w", loc, err),
		Fix: "set saml.entity_base_url to the URL browsers use for CM, then run again"}
}

// checkURL resolves loc's host and sends a GET to probe (on loc's
// origin): any HTTP answer below 500 counts.
func (p *Procedure) checkURL(ctx context.Context, c *http.Client, loc, probe string) error {
	u, err := url.Parse(loc)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("not an http(s) URL")
	}
	var r interface {
		LookupHost(ctx context.Context, host string) ([]string, error)
	} = net.DefaultResolver
	if p.deps.Resolver != nil {
		r = p.deps.Resolver
	}
	if net.ParseIP(u.Hostname()) == nil {
		if _, err := r.LookupHost(ctx, u.Hostname()); err != nil {
			return fmt.Errorf("host %s does not resolve: %w", u.Hostname(), err)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, probe, nil)
	if err != nil {
		return err
	}
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

// forIdP is what the IdP administrator needs, each endpoint with the
// binding CM's metadata gives it.
func forIdP(f *answers.File, md *spMetadata, path, metadataURL string) []string {
	out := []string{
		"give the IdP this metadata file: " + path,
		"or let the IdP load it from CM's metadata URL: " + metadataURL,
		"entity ID (audience): " + md.EntityID,
	}
	for i, a := range md.ACS {
		out = append(out, "assertion consumer service ("+bindingName(md.ACSBindings[i])+"): "+a)
	}
	// One line per location, with every binding it takes.
	var locs []string
	bindings := map[string][]string{}
	for i, s := range md.SLO {
		if _, ok := bindings[s]; !ok {
			locs = append(locs, s)
		}
		bindings[s] = append(bindings[s], bindingName(md.SLOBindings[i]))
	}
	for _, s := range locs {
		out = append(out, "single logout service ("+strings.Join(bindings[s], ", ")+"): "+s)
	}
	for _, c := range md.Certs {
		sum := sha256.Sum256(c.Raw)
		out = append(out, fmt.Sprintf("CM signs requests with %q (SHA-256 %X); the IdP must trust it to check signed requests and logouts", c.Subject.CommonName, sum[:]))
	}
	_, m := wanted(f, true)
	if m[keyUserIDSource] == "NAMEID" {
		out = append(out, "release the user ID as the NameID")
	} else {
		out = append(out, "release the user ID as attribute "+m[keyUserIDAttribute]+" (NameFormat uri)")
	}
	if m[keyRoleMechanism] == "SCRIPT" {
		out = append(out, "roles come from the script "+m[keyScriptPath]+" on the CM server (exit 0 admin, 1 regular user)")
	} else {
		out = append(out, fmt.Sprintf("release the role as attribute %s with %q for admins and %q for regular users",
			m[keyRoleAttribute], m[keyRoleAdminValues], m[keyRoleUserValues]))
	}
	return out
}

// bindingName is a SAML binding URI's short name ("HTTP-POST"), as CM's
// "SAML Response Binding" setting spells it (SAML 2.0 Bindings 3).
func bindingName(uri string) string {
	return cmp.Or(strings.TrimPrefix(uri, "urn:oasis:names:tc:SAML:2.0:bindings:"), "unspecified binding")
}

// IdPSSOURL is the SSO URL of an IdP metadata file (its HTTP-Redirect
// endpoint, else its HTTP-POST one).
func IdPSSOURL(metadata []byte) (string, error) {
	idp, err := parseIdPMetadata(metadata)
	if err != nil {
		return "", err
	}
	return cmp.Or(idp.SSORedirect, idp.SSOPost), nil
}
