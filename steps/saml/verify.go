package saml

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/crewjam/saml"

	"github.com/cmtls/cmtls/steps"
	"github.com/cmtls/cmtls/steps/answers"
)

// verifyLogins is "Verifying" 1-5: the login page redirects to the IdP
// with a request signed by the key in CM's metadata, then each test login
// goes through the IdP's form and CM is asked how it ended.
func (p *Procedure) verifyLogins(ctx context.Context, env *steps.Env) error {
	base := consoleBase(env.Answers)
	if err := p.checkLoginRedirect(ctx, env, base); err != nil {
		return err
	}
	progress(env, StepVerify, "the login page redirects to the IdP with a valid signed request")

	var v *answers.SAMLVerify = env.Answers.SAML.Verify
	if v == nil || len(v.Logins) == 0 {
		report(env, steps.Event{Step: StepVerify, Phase: steps.PhaseVerify, Status: steps.StatusWarn,
			Detail: "no saml.verify.logins: no test login was run; log in once as an admin and once as a regular user to finish verifying"})
		return nil
	}
	var failed []string
	for _, l := range v.Logins {
		got, err := p.login(ctx, base, l.User, string(l.Password.Value()))
		lr := LoginResult{User: l.User, Expect: l.Expect, Got: got, OK: err == nil && got == l.Expect}
		p.Result.Logins = append(p.Result.Logins, lr)
		if !lr.OK {
			detail := fmt.Sprintf("%s: expected %s, got %s", l.User, l.Expect, got)
			if err != nil {
				detail += " (" + err.Error() + ")"
			}
			failed = append(failed, detail)
			report(env, steps.Event{Step: StepVerify, Phase: steps.PhaseVerify, Status: steps.StatusFailed, Host: l.User, Err: detail})
			continue
		}
		detail := "logged in as " + got + " (CM lists the session; the user has " + roleOf(got) + ")"
		if got == "unauthorized" {
			detail = "the IdP authenticated the user and CM opened no session (as expected)"
		}
		report(env, steps.Event{Step: StepVerify, Phase: steps.PhaseVerify, Status: steps.StatusOK, Host: l.User, Detail: detail})
	}
	if len(failed) > 0 {
		return &Error{Step: StepVerify, Err: errors.New(strings.Join(failed, "; ")),
			Fix: "a login CM did not authorize means the role is not reaching CM: check the IdP's attribute release, the role mappings or the role script (the CM log gives the reason)"}
	}
	p.Result.LoginsVerified = true
	progress(env, StepVerify, fmt.Sprintf("%d test login(s) ended as expected", len(v.Logins)))
	return nil
}

// checkLoginRedirect: GET /saml/login answers with a redirect to the
// IdP's SSO URL carrying an AuthnRequest signed by a certificate of CM's
// own metadata, issued by CM's entity ID for one of its ACS URLs.
func (p *Procedure) checkLoginRedirect(ctx context.Context, env *steps.Env, base string) error {
	c := p.httpClient()
	mdBytes, err := get(ctx, c, base+pathMetadata)
	if err != nil {
		return &Error{Step: StepVerify, Err: fmt.Errorf("%s: %w", base+pathMetadata, err)}
	}
	sp, err := parseSPMetadata(mdBytes)
	if err != nil {
		return &Error{Step: StepVerify, Err: err}
	}
	idpData, err := os.ReadFile(env.Answers.ExpandPath(env.Answers.SAML.IdPMetadata))
	if err != nil {
		return &Error{Step: StepVerify, Err: err}
	}
	idp, err := parseIdPMetadata(idpData)
	if err != nil {
		return &Error{Step: StepVerify, Err: err}
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+pathLogin, nil)
	resp, err := c.Do(req)
	if err != nil {
		return &Error{Step: StepVerify, Err: err}
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil {
		return &Error{Step: StepVerify, Err: fmt.Errorf("%s answered %s, not a redirect to the IdP", base+pathLogin, resp.Status)}
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != idp.SSORedirect {
		return &Error{Step: StepVerify, Err: fmt.Errorf("login redirects to %s, not the IdP's SSO URL %s", got, idp.SSORedirect),
			Fix: "check saml.idp_metadata: CM reads the SSO URL from it"}
	}
	xmlb, _, signed, err := decodeRedirect(loc.RawQuery, "SAMLRequest", sp.Certs, false)
	if err != nil || !signed {
		return &Error{Step: StepVerify, Err: fmt.Errorf("the AuthnRequest signature does not verify with the certificate in CM's metadata (signed=%v): %v", signed, err)}
	}
	var ar saml.AuthnRequest
	if err := xml.Unmarshal(xmlb, &ar); err != nil || ar.Issuer == nil || ar.Issuer.Value != sp.EntityID || !slices.Contains(sp.ACS, ar.AssertionConsumerServiceURL) {
		return &Error{Step: StepVerify, Err: fmt.Errorf("the AuthnRequest does not match CM's metadata: %s", xmlb)}
	}
	return nil
}

// login runs one browser login through the IdP's form and asks CM how it
// ended: "admin" or "user" when CM has a new session for the user and
// gives it ROLE_ADMIN or ROLE_USER, "unauthorized" when the browser came
// back to CM and CM gave no session, else "error" (or the roles CM gave).
// Nothing is read from CM's pages: their markup is CM's to change.
func (p *Procedure) login(ctx context.Context, base, user, pass string) (string, error) {
	before, err := p.deps.API.Sessions(ctx)
	if err != nil {
		return "error", fmt.Errorf("ask CM for its sessions: %w", err)
	}
	b := newBrowser(p.transport())
	pg, err := b.Get(ctx, base+"/")
	if err != nil {
		return "error", err
	}
	if pg, err = b.Login(ctx, pg, user, pass); err != nil {
		return "error", err
	}
	if !sameOrigin(pg.URL, base) {
		return "error", fmt.Errorf("the login ended at %s (status %d), not back at CM: the IdP refused it or did not send the user back", pg.URL.Redacted(), pg.Status)
	}
	if pg.Status >= 500 {
		return "error", fmt.Errorf("the login ended at %s with status %d", pg.URL.Redacted(), pg.Status)
	}
	after, err := p.deps.API.Sessions(ctx)
	if err != nil {
		return "error", fmt.Errorf("ask CM for its sessions: %w", err)
	}
	if !newSession(before, after, user) {
		return "unauthorized", nil
	}
	u, err := p.deps.API.User(ctx, user)
	if err != nil {
		return "error", fmt.Errorf("CM has a session for %s but: %w", user, err)
	}
	roles := roleNames(u.AuthRoles)
	switch {
	case slices.Contains(roles, RoleAdmin):
		return "admin", nil
	case slices.Contains(roles, RoleUser):
		return "user", nil
	case len(roles) == 0:
		return "error", fmt.Errorf("CM has a session for %s but gives it no role", user)
	}
	return strings.Join(roles, ","), nil
}

// newSession reports whether after holds a session of user that before
// did not: one more, or one with a later request.
func newSession(before, after []Session, user string) bool {
	key := func(s Session) string { return s.RemoteAddr + "|" + s.LastRequest.UTC().Format(time.RFC3339Nano) }
	seen := map[string]int{}
	for _, s := range before {
		if s.Name == user {
			seen[key(s)]++
		}
	}
	for _, s := range after {
		if s.Name != user {
			continue
		}
		k := key(s)
		if seen[k] == 0 {
			return true
		}
		seen[k]--
	}
	return false
}

func sameOrigin(u *url.URL, base string) bool {
	b, err := url.Parse(base)
	return err == nil && u != nil && strings.EqualFold(u.Scheme, b.Scheme) && strings.EqualFold(u.Host, b.Host)
}

func roleOf(got string) string {
	switch got {
	case "admin":
		return RoleAdmin
	case "user":
		return RoleUser
	}
	return got
}
