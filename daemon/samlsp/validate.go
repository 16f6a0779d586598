package samlsp

import (
	"crypto"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
)

const (
	bearerMethod  = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
	entityFormat  = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity"
	statusSuccess = "urn:oasis:names:tc:SAML:2.0:status:Success"
)

// verifiedAssertion is what a Response that passed every check yields.
type verifiedAssertion struct {
	ResponseID   string
	AssertionID  string
	InResponseTo string
	NameID       saml.NameID
	SessionIndex string
	// SessionNotOnOrAfter is the IdP's limit on our session, zero if none.
	SessionNotOnOrAfter time.Time
	// Attributes by Name; Occurrences counts Attribute elements per Name.
	Attributes  map[string][]string
	Occurrences map[string]int
	// ReplayUntil is how long the IDs stay in the replay cache.
	ReplayUntil time.Time
	Encrypted   bool
	// Encryption names the block and key transport algorithms, e.g.
	// "aes256-gcm/rsa-oaep-mgf1p".
	Encryption string
}

// refusal is a response we refuse; the message goes to the log, the
// browser gets a generic page.
type refusal struct{ msg string }

func (r *refusal) Error() string { return r.msg }

func refuse(format string, args ...any) error {
	return &refusal{msg: fmt.Sprintf(format, args...)}
}

// validateResponse runs every check on a decoded SAMLResponse except the
// ones that need the browser (InResponseTo bound to this browser,
// RelayState) and the replay cache, which the handler does next.
func (sp *SP) validateResponse(data []byte, now time.Time) (*verifiedAssertion, error) {
	root, err := parseXML(data)
	if err != nil {
		return nil, err
	}
	if !is(root, nsProtocol, "Response") {
		return nil, refuse("root element is %q, expected samlp:Response", root.Tag)
	}
	// Exactly one assertion, and it must be a direct child: XSW attacks
	// hide the signed one in Extensions, Object or another Assertion
	// (CVE-2022-41912: more than one is refused outright).
	all := append(descendants(root, nsAssertion, "Assertion"), descendants(root, nsAssertion, "EncryptedAssertion")...)
	if len(all) != 1 {
		return nil, refuse("response has %d assertions, expected exactly one", len(all))
	}
	if all[0].Parent() != root {
		return nil, refuse("the assertion is not a direct child of the response")
	}
	if err := sp.checkMessage(root, "response", now); err != nil {
		return nil, err
	}
	if d := attr(root, "Destination"); d != sp.acsURL {
		return nil, refuse("response Destination %q is not our ACS URL %q", d, sp.acsURL)
	}
	status, _ := child(root, nsProtocol, "Status")
	if status == nil {
		return nil, refuse("response has no Status")
	}
	code, err := child(status, nsProtocol, "StatusCode")
	if err != nil || code == nil {
		return nil, refuse("response needs exactly one StatusCode")
	}
	if v := attr(code, "Value"); v != statusSuccess {
		return nil, refuse("IdP status is %q, not Success", v)
	}

	resp := root
	responseSigned := false
	switch out, err := sp.verifier.Verify(root, now); {
	case err == nil:
		resp, responseSigned = out, true
	case !errors.Is(err, errNoSignature):
		return nil, refuse("%v", err)
	}

	var assertionEl *etree.Element
	encrypted, algs := false, ""
	if a := children(resp, nsAssertion, "Assertion"); len(a) == 1 {
		assertionEl = a[0]
	} else if e := children(resp, nsAssertion, "EncryptedAssertion"); len(e) == 1 {
		encrypted = true
		assertionEl, algs, err = sp.decrypt(e[0])
		if err != nil {
			return nil, err
		}
	} else {
		return nil, refuse("signed response has no assertion")
	}

	switch out, err := sp.verifier.Verify(assertionEl, now); {
	case err == nil:
		assertionEl = out
	case errors.Is(err, errNoSignature):
		if !responseSigned {
			return nil, refuse("neither the response nor the assertion is signed")
		}
	default:
		return nil, refuse("%v", err)
	}

	va, err := sp.checkAssertion(assertionEl, now)
	if err != nil {
		return nil, err
	}
	va.Encrypted, va.Encryption = encrypted, algs
	va.ResponseID = attr(resp, "ID")
	va.InResponseTo = attr(resp, "InResponseTo")
	if va.InResponseTo != va.subjectInResponseTo {
		return nil, refuse("response InResponseTo %q differs from the assertion's %q", va.InResponseTo, va.subjectInResponseTo)
	}
	return &va.verifiedAssertion, nil
}

// checkMessage checks what every IdP message carries: ID, Version,
// IssueInstant within the allowed age, and an Issuer equal to the IdP's
// entity ID (required here, although the schema makes it optional on a
// Response).
func (sp *SP) checkMessage(el *etree.Element, what string, now time.Time) error {
	if attr(el, "ID") == "" {
		return refuse("%s has no ID", what)
	}
	if v := attr(el, "Version"); v != "2.0" {
		return refuse("%s Version is %q, expected 2.0", what, v)
	}
	if err := sp.checkIssueInstant(attr(el, "IssueInstant"), what, now); err != nil {
		return err
	}
	return sp.checkIssuer(el, what)
}

func (sp *SP) checkIssueInstant(v, what string, now time.Time) error {
	t, err := parseTime(v)
	if err != nil {
		return refuse("%s IssueInstant: %v", what, err)
	}
	if t.After(now.Add(sp.skew)) {
		return refuse("%s IssueInstant %s is in the future (now %s, skew %s)", what, v, now.UTC().Format(time.RFC3339), sp.skew)
	}
	if t.Before(now.Add(-sp.maxAge - sp.skew)) {
		return refuse("%s IssueInstant %s is older than %s (now %s)", what, v, sp.maxAge, now.UTC().Format(time.RFC3339))
	}
	return nil
}

func (sp *SP) checkIssuer(el *etree.Element, what string) error {
	iss, err := child(el, nsAssertion, "Issuer")
	if err != nil || iss == nil {
		return refuse("%s needs exactly one Issuer", what)
	}
	v, err := text(iss)
	if err != nil {
		return refuse("%s Issuer: %v", what, err)
	}
	if f := attr(iss, "Format"); f != "" && f != entityFormat {
		return refuse("%s Issuer Format %q is not entity", what, f)
	}
	if strings.TrimSpace(v) != sp.idp.EntityID {
		return refuse("%s Issuer %q is not the IdP %q", what, v, sp.idp.EntityID)
	}
	return nil
}

func parseTime(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, errors.New("missing")
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not an xs:dateTime with a time zone", v)
	}
	return t, nil
}

type checkedAssertion struct {
	verifiedAssertion
	subjectInResponseTo string
}

func (sp *SP) checkAssertion(a *etree.Element, now time.Time) (*checkedAssertion, error) {
	if !is(a, nsAssertion, "Assertion") {
		return nil, refuse("expected an Assertion, got %q", a.Tag)
	}
	if n := len(descendants(a, nsAssertion, "Assertion")); n != 1 {
		return nil, refuse("assertion contains %d nested assertions", n-1)
	}
	if err := sp.checkMessage(a, "assertion", now); err != nil {
		return nil, err
	}
	out := &checkedAssertion{}
	out.AssertionID = attr(a, "ID")
	for _, check := range []func(*etree.Element, time.Time, *checkedAssertion) error{
		sp.checkSubject, sp.checkConditions, checkAuthnStatement, readAttributes,
	} {
		if err := check(a, now, out); err != nil {
			return nil, err
		}
	}
	// The replay cache keeps the IDs for as long as any part of the
	// assertion is valid, plus the skew.
	out.ReplayUntil = out.ReplayUntil.Add(sp.skew)
	return out, nil
}

// checkSubject reads the NameID and checks every bearer SubjectConfirmation
// (SAML 2.0 Profiles 4.1.4.2): Recipient is our ACS, NotOnOrAfter not past,
// and one InResponseTo for all.
func (sp *SP) checkSubject(a *etree.Element, now time.Time, out *checkedAssertion) error {
	skew := sp.skew
	subj, err := child(a, nsAssertion, "Subject")
	if err != nil || subj == nil {
		return refuse("assertion needs exactly one Subject")
	}
	if nid, err := child(subj, nsAssertion, "NameID"); err != nil {
		return refuse("%v", err)
	} else if nid != nil {
		v, err := text(nid)
		if err != nil {
			return refuse("NameID: %v", err)
		}
		out.NameID = saml.NameID{
			Value: v, Format: attr(nid, "Format"), NameQualifier: attr(nid, "NameQualifier"),
			SPNameQualifier: attr(nid, "SPNameQualifier"), SPProvidedID: attr(nid, "SPProvidedID"),
		}
	}
	confs := children(subj, nsAssertion, "SubjectConfirmation")
	if len(confs) == 0 {
		return refuse("assertion has no SubjectConfirmation")
	}
	irt := map[string]bool{}
	for _, c := range confs {
		if m := attr(c, "Method"); m != bearerMethod {
			return refuse("SubjectConfirmation Method %q is not bearer", m)
		}
		scd, err := child(c, nsAssertion, "SubjectConfirmationData")
		if err != nil || scd == nil {
			return refuse("bearer SubjectConfirmation needs exactly one SubjectConfirmationData")
		}
		if r := attr(scd, "Recipient"); r != sp.acsURL {
			return refuse("SubjectConfirmationData Recipient %q is not our ACS URL %q", r, sp.acsURL)
		}
		noa, err := parseTime(attr(scd, "NotOnOrAfter"))
		if err != nil {
			return refuse("SubjectConfirmationData NotOnOrAfter: %v", err)
		}
		if !now.Before(noa.Add(skew)) {
			return refuse("SubjectConfirmationData expired at %s", noa.UTC().Format(time.RFC3339))
		}
		if nb := attr(scd, "NotBefore"); nb != "" {
			t, err := parseTime(nb)
			if err != nil {
				return refuse("SubjectConfirmationData NotBefore: %v", err)
			}
			if t.After(now.Add(skew)) {
				return refuse("SubjectConfirmationData not valid before %s", nb)
			}
		}
		if noa.After(out.ReplayUntil) {
			out.ReplayUntil = noa
		}
		irt[attr(scd, "InResponseTo")] = true
	}
	if len(irt) != 1 {
		return refuse("SubjectConfirmations disagree on InResponseTo")
	}
	for k := range irt {
		out.subjectInResponseTo = k
	}

	return nil
}

// checkConditions checks the validity window and that an
// AudienceRestriction names us (a missing one is refused, unlike crewjam).
func (sp *SP) checkConditions(a *etree.Element, now time.Time, out *checkedAssertion) error {
	skew := sp.skew
	cond, err := child(a, nsAssertion, "Conditions")
	if err != nil || cond == nil {
		return refuse("assertion needs exactly one Conditions")
	}
	if nb := attr(cond, "NotBefore"); nb != "" {
		t, err := parseTime(nb)
		if err != nil {
			return refuse("Conditions NotBefore: %v", err)
		}
		if t.After(now.Add(skew)) {
			return refuse("assertion not valid before %s (now %s, skew %s)", nb, now.UTC().Format(time.RFC3339), skew)
		}
	}
	if v := attr(cond, "NotOnOrAfter"); v != "" {
		t, err := parseTime(v)
		if err != nil {
			return refuse("Conditions NotOnOrAfter: %v", err)
		}
		if !now.Before(t.Add(skew)) {
			return refuse("assertion expired at %s (now %s, skew %s)", v, now.UTC().Format(time.RFC3339), skew)
		}
		if t.After(out.ReplayUntil) {
			out.ReplayUntil = t
		}
	}
	ars := children(cond, nsAssertion, "AudienceRestriction")
	if len(ars) == 0 {
		return refuse("assertion has no AudienceRestriction")
	}
	for _, ar := range ars {
		ok := false
		var seen []string
		for _, au := range children(ar, nsAssertion, "Audience") {
			v, err := text(au)
			if err != nil {
				return refuse("Audience: %v", err)
			}
			seen = append(seen, v)
			ok = ok || strings.TrimSpace(v) == sp.entityID
		}
		if !ok {
			return refuse("AudienceRestriction %q does not name us (%q)", seen, sp.entityID)
		}
	}
	return nil
}

// checkAuthnStatement reads the session index and the IdP's session limit
// (the Web SSO profile requires an AuthnStatement).
func checkAuthnStatement(a *etree.Element, now time.Time, out *checkedAssertion) error {
	as := children(a, nsAssertion, "AuthnStatement")
	if len(as) == 0 {
		return refuse("assertion has no AuthnStatement")
	}
	out.SessionIndex = attr(as[0], "SessionIndex")
	if v := attr(as[0], "SessionNotOnOrAfter"); v != "" {
		t, err := parseTime(v)
		if err != nil {
			return refuse("SessionNotOnOrAfter: %v", err)
		}
		if !now.Before(t) {
			return refuse("IdP session ended at %s", v)
		}
		out.SessionNotOnOrAfter = t
	}

	return nil
}

// readAttributes collects attribute values by name; values must be plain
// text (no child elements that could split a value).
func readAttributes(a *etree.Element, now time.Time, out *checkedAssertion) error {
	out.Attributes = map[string][]string{}
	out.Occurrences = map[string]int{}
	for _, st := range children(a, nsAssertion, "AttributeStatement") {
		for _, at := range children(st, nsAssertion, "Attribute") {
			name := attr(at, "Name")
			out.Occurrences[name]++
			for _, v := range children(at, nsAssertion, "AttributeValue") {
				s, err := text(v)
				if err != nil {
					return refuse("attribute %q: %v", name, err)
				}
				out.Attributes[name] = append(out.Attributes[name], s)
			}
		}
	}
	return nil
}

var errDecrypt = refuse("cannot decrypt the assertion")

// decrypt opens an EncryptedAssertion. Every failure (bad padding, wrong
// key, truncated data, a refused algorithm, even a panic) is the same
// generic refusal, so the IdP-facing side offers no padding oracle; the
// detail goes to the log.
func (sp *SP) decrypt(enc *etree.Element) (el *etree.Element, algs string, err error) {
	defer func() {
		if r := recover(); r != nil {
			sp.log.Warn("saml: decrypting assertion panicked", "panic", fmt.Sprint(r))
			el, algs, err = nil, "", errDecrypt
		}
	}()
	dec, ok := sp.key.(crypto.Decrypter)
	if !ok {
		sp.log.Warn("saml: encrypted assertion but the SAML key cannot decrypt")
		return nil, "", errDecrypt
	}
	plain, algs, err := decryptElement(dec, enc, sp.cfg.AllowRSA15)
	if err != nil {
		sp.log.Warn("saml: decrypting assertion", "err", err)
		return nil, "", errDecrypt
	}
	root, err := parseXML(plain)
	if err != nil {
		return nil, "", refuse("decrypted assertion: %v", err)
	}
	return root, algs, nil
}
