package samlsp

// The 34 hostile inputs a trustworthy SP must refuse (XML signature
// wrapping, replay, XXE, deflate bombs and the other classes of the CVEs
// named in the tests). Each test builds the message, signed by the test IdP's key
// where the attack needs a real signature, and asserts the SP refuses it
// for the expected reason and creates no session (or, for logout messages,
// ends none).

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
)

func findEl(root *etree.Element, tag string) *etree.Element {
	for _, e := range descendantsAny(root) {
		if e.Tag == tag {
			return e
		}
	}
	return nil
}

func descendantsAny(el *etree.Element) []*etree.Element {
	out := []*etree.Element{el}
	for _, c := range el.ChildElements() {
		out = append(out, descendantsAny(c)...)
	}
	return out
}

// signedResponse is a valid, fully signed response as an element tree.
func (f *fixture) signedResponse(s respSpec) *etree.Element {
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(f.build(s, nil)); err != nil {
		f.t.Fatal(err)
	}
	return doc.Root()
}

func forgeAssertion(f *fixture, id, user string) *etree.Element {
	s := f.spec()
	s.AssertionID = id
	s.NameID = user
	s.Attrs = [][2]string{{uidOID, user}, {ouOID, "cm-admins"}}
	s.SignAssertion = false
	return assertionEl(s)
}

// 1. XSW: the signed Response moves into ds:Object and a forged unsigned
// Response sits at the root.
func TestHostile01_XSWResponseInObject(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	orig := f.signedResponse(f.spec())
	forged := responseEl(f.spec())
	forged.AddChild(forgeAssertion(f, "_forged", "evil"))
	sig := findEl(orig, "Signature").Copy()
	sig.CreateElement("ds:Object").AddChild(orig)
	forged.InsertChildAt(1, sig)
	f.refused(f.post(xmlOf(t, forged), ""), "assertions, expected exactly one")
}

// 2. XSW: a forged Assertion as a sibling before/after the signed one.
func TestHostile02_XSWSiblingAssertion(t *testing.T) {
	t.Parallel()
	for _, before := range []bool{true, false} {
		f := newFixture(t)
		s := f.spec()
		s.SignResponse = false
		xml := f.build(s, func(resp, a *etree.Element) {
			forged := forgeAssertion(f, "_forged", "evil")
			if before {
				resp.InsertChildAt(len(resp.Child)-1, forged)
			} else {
				resp.AddChild(forged)
			}
		})
		f.refused(f.post(xml, ""), "assertions, expected exactly one")
	}
}

// 3. XSW: a forged Assertion wraps the signed one (and the reverse).
func TestHostile03_XSWWrappedAssertion(t *testing.T) {
	t.Parallel()
	for _, outerForged := range []bool{true, false} {
		f := newFixture(t)
		s := f.spec()
		s.SignResponse = false
		xml := f.build(s, func(resp, a *etree.Element) {
			forged := forgeAssertion(f, "_forged", "evil")
			resp.RemoveChild(a)
			if outerForged {
				forged.AddChild(a)
				resp.AddChild(forged)
			} else {
				a.AddChild(forged)
				resp.AddChild(a)
			}
		})
		f.refused(f.post(xml, ""), "assertions, expected exactly one")
	}
}

// 4. XSW: the signed Assertion copied into the forged one's Signature/Object.
func TestHostile04_XSWAssertionInSignatureObject(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := f.spec()
	s.SignResponse = false
	xml := f.build(s, func(resp, a *etree.Element) {
		forged := forgeAssertion(f, "_forged", "evil")
		sig := findEl(a, "Signature").Copy()
		sig.CreateElement("ds:Object").AddChild(a.Copy())
		forged.InsertChildAt(1, sig)
		resp.RemoveChild(a)
		resp.AddChild(forged)
	})
	f.refused(f.post(xml, ""), "assertions, expected exactly one")
}

// 5. Duplicate ID values.
func TestHostile05_DuplicateIDs(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := f.spec()
	s.SignResponse = false
	xml := f.build(s, func(resp, a *etree.Element) {
		ext := etree.NewElement("samlp:Extensions")
		e := ext.CreateElement("x:Thing")
		e.CreateAttr("xmlns:x", "urn:example")
		e.CreateAttr("ID", s.AssertionID)
		resp.InsertChildAt(1, ext)
	})
	f.refused(f.post(xml, ""), "duplicate ID")
}

// 6. Reference URI empty, pointing elsewhere, or several References.
func TestHostile06_BadReference(t *testing.T) {
	t.Parallel()
	cases := map[string]func(ref *etree.Element){
		"empty":     func(ref *etree.Element) { ref.CreateAttr("URI", "") },
		"elsewhere": func(ref *etree.Element) { ref.CreateAttr("URI", "#_other") },
		"two": func(ref *etree.Element) {
			ref.Parent().AddChild(ref.Copy())
		},
	}
	for name, mut := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			s := f.spec()
			s.SignResponse = false
			xml := f.build(s, func(resp, a *etree.Element) { mut(findEl(a, "Reference")) })
			reason := "does not point at the signed element"
			if name == "two" {
				reason = "2 references"
			}
			f.refused(f.post(xml, ""), reason)
		})
	}
}

// 7. Signed with an attacker key whose certificate is in KeyInfo.
func TestHostile07_AttackerKeyInfo(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := f.spec()
	s.SigKey = &attackerKey
	f.refused(f.post(f.build(s, nil), ""), "does not verify with the IdP's certificates")
}

// 8. No signature anywhere.
func TestHostile08_Unsigned(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := f.spec()
	s.SignAssertion, s.SignResponse = false, false
	f.refused(f.post(f.build(s, nil), ""), "neither the response nor the assertion is signed")
}

// 9. A signed Response holding a signed Assertion plus a forged one
// (CVE-2022-41912).
func TestHostile09_SignedPlusForgedAssertion(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	xml := f.build(f.spec(), func(resp, a *etree.Element) { resp.AddChild(forgeAssertion(f, "_forged", "evil")) })
	f.refused(f.post(xml, ""), "2 assertions")
}

// 10. Unsigned Response; the Assertion carries a signature over another
// element.
func TestHostile10_SignatureOverOtherElement(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := f.spec()
	s.SignResponse, s.SignAssertion = false, false
	xml := f.build(s, func(resp, a *etree.Element) {
		other := etree.NewElement("saml:Issuer")
		other.CreateAttr("xmlns:saml", nsAssertion)
		other.CreateAttr("ID", "_other")
		other.SetText(testIdPEntity)
		wrapper := etree.NewElement("x:W")
		wrapper.CreateAttr("xmlns:x", "urn:x")
		wrapper.CreateAttr("ID", "_wrapper")
		wrapper.AddChild(other)
		signEl(t, wrapper, idpKey, "", false) // a genuine IdP signature, over _wrapper
		a.InsertChildAt(1, findEl(wrapper, "Signature"))
	})
	f.refused(f.post(xml, ""), "does not point at the signed element")
}

// 11. Disallowed transforms and algorithms: SHA-1 by default, XPath, HMAC.
func TestHostile11_DisallowedAlgorithms(t *testing.T) {
	t.Parallel()
	t.Run("sha1", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		s := f.spec()
		s.SigMethod, s.DigestSHA1 = dsig.RSASHA1SignatureMethod, true
		f.refused(f.post(f.build(s, nil), ""), "rsa-sha1\" not allowed")
		// Control: the same signature is good when SHA-1 is allowed.
		g := newFixture(t, func(c *Config) { c.AllowSHA1 = true })
		g.accepted(g.post(g.build(s, nil), ""))
	})
	t.Run("sha1-digest", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		s := f.spec()
		s.SignResponse = false
		xml := f.build(s, func(resp, a *etree.Element) {
			findEl(a, "DigestMethod").CreateAttr("Algorithm", digestSHA1)
		})
		f.refused(f.post(xml, ""), "digest method \"http://www.w3.org/2000/09/xmldsig#sha1\" not allowed")
	})
	t.Run("xpath", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		xml := f.build(f.spec(), func(resp, a *etree.Element) {
			trs := findEl(a, "Transforms").ChildElements()
			trs[len(trs)-1].CreateAttr("Algorithm", "http://www.w3.org/TR/1999/REC-xpath-19991116")
		})
		f.refused(f.post(xml, ""), "REC-xpath-19991116\" not allowed")
	})
	t.Run("hmac", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		s := f.spec()
		s.SignResponse = false
		xml := f.build(s, func(resp, a *etree.Element) {
			findEl(a, "SignatureMethod").CreateAttr("Algorithm", "http://www.w3.org/2000/09/xmldsig#hmac-sha1")
		})
		f.refused(f.post(xml, ""), "hmac-sha1\" not allowed")
	})
}

// 12. Comment injection in NameID and attribute values: the signature still
// verifies (canonicalization drops comments), so comments are refused.
func TestHostile12_CommentInjection(t *testing.T) {
	t.Parallel()
	for _, field := range []string{"NameID", "AttributeValue"} {
		f := newFixture(t)
		s := f.spec()
		s.NameID = "alice.evil"
		s.Attrs = [][2]string{{uidOID, "alice.evil"}, {ouOID, "cm-admins"}}
		xml := string(f.build(s, nil))
		xml = strings.Replace(xml, ">alice.evil<", ">alice<!---->.evil<", 1)
		if field == "AttributeValue" {
			xml = strings.Replace(xml, `xs:string">alice.evil<`, `xs:string">alice<!---->.evil<`, 1)
		}
		if !strings.Contains(xml, "<!---->") {
			t.Fatal("injection not placed")
		}
		f.refused(f.post([]byte(xml), ""), "must not contain comments")
	}
}

// 13. XML round-trip mutation payloads (CVE-2020-27846 class).
func TestHostile13_RoundTripMutation(t *testing.T) {
	t.Parallel()
	for _, payload := range []string{`<x::Evil/>`, `<Root xmlns="urn:a" x:attr="y"/>`} {
		f := newFixture(t)
		xml := strings.Replace(string(f.build(f.spec(), nil)), "<samlp:Status>", payload+"<samlp:Status>", 1)
		f.refused(f.post([]byte(xml), ""), "xml")
		if strings.Contains(f.logs.String(), "signature") {
			t.Fatalf("refused by the signature check, not the XML check: %s", f.logs)
		}
	}
}

// 14-17. Times.
func TestHostile14to17_Times(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		mut    func(f *fixture, s *respSpec)
		reason string
	}{
		{"14 conditions expired", func(f *fixture, s *respSpec) { s.NotOnOrAfter = f.now.Add(-4 * time.Minute) }, "assertion expired"},
		{"15 not yet valid", func(f *fixture, s *respSpec) { s.NotBefore = f.now.Add(4 * time.Minute) }, "not valid before"},
		{"16 scd expired", func(f *fixture, s *respSpec) { s.SCDNotOnOrAfter = f.now.Add(-4 * time.Minute) }, "SubjectConfirmationData expired"},
		{"16 scd missing", func(f *fixture, s *respSpec) { s.NoSCD = true }, "needs exactly one SubjectConfirmationData"},
		{"16 scd no NotOnOrAfter", func(f *fixture, s *respSpec) { s.NoSCDNotOnOrAfter = true }, "NotOnOrAfter: missing"},
		{"16 not bearer", func(f *fixture, s *respSpec) { s.Method = "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key" }, "is not bearer"},
		{"17 response stale", func(f *fixture, s *respSpec) { s.IssueInstant = f.now.Add(-10 * time.Minute) }, "response IssueInstant"},
		{"17 response future", func(f *fixture, s *respSpec) { s.IssueInstant = f.now.Add(10 * time.Minute) }, "is in the future"},
		{"17 assertion stale", func(f *fixture, s *respSpec) { s.AssertionInstant = f.now.Add(-10 * time.Minute) }, "assertion IssueInstant"},
		{"17 assertion future", func(f *fixture, s *respSpec) { s.AssertionInstant = f.now.Add(time.Hour) }, "is in the future"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			s := f.spec()
			tc.mut(f, &s)
			f.refused(f.post(f.build(s, nil), ""), tc.reason)
		})
	}
}

// 18-21. Audience, Destination, Recipient, Issuer.
func TestHostile18to21_Addressing(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		mut    func(s *respSpec)
		reason string
	}{
		{"18 other audience", func(s *respSpec) { s.Audiences = []string{"otherSP"} }, "does not name us"},
		{"18 no audience restriction", func(s *respSpec) { s.NoAudienceRestriction = true }, "no AudienceRestriction"},
		{"19 wrong destination", func(s *respSpec) { s.Destination = "https://evil.example/saml/SSO" }, "Destination"},
		{"19 wrong destination unsigned response", func(s *respSpec) { s.Destination = "https://evil.example/"; s.SignResponse = false }, "Destination"},
		{"19 missing destination", func(s *respSpec) { s.Destination = "" }, "Destination \"\""},
		{"20 wrong recipient", func(s *respSpec) { s.Recipient = "https://evil.example/saml/SSO" }, "Recipient"},
		{"20 missing recipient", func(s *respSpec) { s.Recipient = "" }, "Recipient \"\""},
		{"21 wrong response issuer", func(s *respSpec) { s.Issuer = "https://evil.example" }, "response Issuer"},
		{"21 missing response issuer", func(s *respSpec) { s.Issuer = "" }, "response needs exactly one Issuer"},
		{"21 wrong assertion issuer", func(s *respSpec) { s.AssertionIssuer = "https://evil.example" }, "assertion Issuer"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			s := f.spec()
			tc.mut(&s)
			f.refused(f.post(f.build(s, nil), ""), tc.reason)
		})
	}
}

// 22. Replay within the validity window, also after logout.
func TestHostile22_Replay(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	xml := f.build(f.spec(), nil)
	c := f.accepted(f.post(xml, ""))
	f.refusedN(f.post(xml, ""), "already used (replay)", 1)
	// Log out, then replay again from a fresh browser.
	w := f.logout(c)
	if w.Code != http.StatusFound || f.sp.store.sessionCount() != 0 {
		t.Fatalf("logout: %d, %d sessions", w.Code, f.sp.store.sessionCount())
	}
	f.refused(f.post(xml, ""), "already used (replay)")
	// A new assertion reusing only the Response ID is refused too.
	s := f.spec()
	s.ResponseID = strings.TrimPrefix(findID(t, xml, "Response"), "")
	f.refused(f.post(f.build(s, nil), ""), "already used (replay)")
}

func findID(t *testing.T, xml []byte, tag string) string {
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(xml); err != nil {
		t.Fatal(err)
	}
	return attr(findEl(doc.Root(), tag), "ID")
}

// 23. InResponseTo of no outstanding request of this browser.
func TestHostile23_InResponseTo(t *testing.T) {
	t.Parallel()
	t.Run("unknown", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		s := f.spec()
		s.InResponseTo = "_neverissued"
		f.refused(f.post(f.build(s, nil), ""), "matches no login started by this browser")
	})
	t.Run("other browser", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		id, relay, _ := f.startLogin("")
		_, _, attackerTrack := f.startLogin("")
		s := f.spec()
		s.InResponseTo = id
		f.refused(f.post(f.build(s, nil), relay, attackerTrack), "matches no login started by this browser")
	})
	// A cross-site POST over plain HTTP carries no Lax cookie: the ACS
	// hands the login over to PathContinue, whose GET must then show the
	// tracking cookie of the browser that started the login.
	t.Run("no tracking cookie", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		id, relay, _ := f.startLogin("")
		_, _, other := f.startLogin("")
		s := f.spec()
		s.InResponseTo = id
		w := f.post(f.build(s, nil), relay)
		loc := w.Header().Get("Location")
		if w.Code != http.StatusSeeOther || !strings.HasPrefix(loc, PathContinue+"?") || cookie(w, SessionCookie) != nil {
			t.Fatalf("ACS without cookies: %d %q", w.Code, loc)
		}
		f.refused(f.get(loc), "matches no login started by this browser")
		w = f.post(f.build(f.specFor(id), nil), relay)
		if w.Code == http.StatusSeeOther {
			t.Fatal("the pending login was answered twice")
		}
		id, relay, _ = f.startLogin("")
		w = f.post(f.build(f.specFor(id), nil), relay)
		f.refused(f.get(w.Header().Get("Location"), other), "matches no login started by this browser")
		id, relay, track := f.startLogin("")
		w = f.post(f.build(f.specFor(id), nil), relay)
		f.accepted(f.get(w.Header().Get("Location"), track))
	})
	t.Run("response and assertion disagree", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		id, relay, track := f.startLogin("")
		s := f.spec()
		s.InResponseTo = id
		xml := f.build(s, func(resp, a *etree.Element) { resp.RemoveAttr("InResponseTo") })
		f.refused(f.post(xml, relay, track), "differs from the assertion's")
	})
}

// 24. Unsolicited response while IdP-initiated SSO is off; an unknown
// InResponseTo while it is on.
func TestHostile24_Unsolicited(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) { c.DisableIdPInitiated = true })
	f.refused(f.post(f.build(f.spec(), nil), ""), "IdP-initiated SSO is disabled")
	g := newFixture(t)
	s := g.spec()
	s.InResponseTo = "_unknown"
	g.refused(g.post(g.build(s, nil), ""), "matches no login")
}

// 25. Status other than Success, assertion included anyway.
func TestHostile25_StatusNotSuccess(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := f.spec()
	s.Status = "urn:oasis:names:tc:SAML:2.0:status:Requester"
	f.refused(f.post(f.build(s, nil), ""), "not Success")
}

// 26-27. DOCTYPE: XXE and billion laughs.
func TestHostile26_27_Doctype(t *testing.T) {
	t.Parallel()
	for _, dt := range []string{
		`<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>`,
		`<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>`,
	} {
		f := newFixture(t)
		xml := dt + strings.Replace(string(f.build(f.spec(), nil)), ">alice<", ">&xxe;&c;<", 1)
		f.refused(f.post([]byte(xml), ""), "DOCTYPE")
	}
}

func deflate(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// 28. Deflate bomb and over-long query in the Redirect binding. A live
// session must survive.
func TestHostile28_DeflateBomb(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.accepted(f.post(f.build(f.spec(), nil), ""))
	bomb := deflate(t, bytes.Repeat([]byte("A"), 50<<20)) // 50 MB inflates from ~50 kB
	q := "SAMLRequest=" + url.QueryEscape(base64.StdEncoding.EncodeToString(bomb[:min(len(bomb), 9000)]))
	w := f.get(PathSLO+"?"+q, c)
	if w.Code != http.StatusForbidden {
		t.Fatalf("status %d", w.Code)
	}
	small := deflate(t, bytes.Repeat([]byte("<a>"), 1<<20))
	if len(small) > maxQueryBytes {
		t.Fatalf("bomb too large for the query cap test: %d", len(small))
	}
	w = f.get(PathSLO+"?SAMLRequest="+url.QueryEscape(base64.StdEncoding.EncodeToString(small)), c)
	if w.Code != http.StatusForbidden || !strings.Contains(f.logs.String(), "inflated message is larger") {
		t.Fatalf("status %d; logs %s", w.Code, f.logs)
	}
	w = f.get(PathSLO+"?SAMLRequest="+strings.Repeat("A", maxQueryBytes+1), c)
	if w.Code != http.StatusForbidden || !strings.Contains(f.logs.String(), "query is") {
		t.Fatalf("status %d; logs %s", w.Code, f.logs)
	}
	if f.sp.store.sessionCount() != 1 {
		t.Fatal("session ended by a refused message")
	}
}

// 29. Oversized body, deep nesting, huge node counts.
func TestHostile29_Size(t *testing.T) {
	t.Parallel()
	t.Run("body", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		f.refused(f.postRaw(strings.Repeat("A", maxPostBytes+10), ""), "request body too large")
	})
	t.Run("decoded size", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		f.refused(f.postRaw(strings.Repeat("A", 400<<10), ""), "larger than")
	})
	t.Run("depth", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		deep := strings.Repeat("<x:a xmlns:x=\"urn:x\">", 100) + strings.Repeat("</x:a>", 100)
		xml := strings.Replace(string(f.build(f.spec(), nil)), "<samlp:Status>", deep+"<samlp:Status>", 1)
		f.refused(f.post([]byte(xml), ""), "nesting deeper")
	})
	t.Run("nodes", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		many := "<x:e xmlns:x=\"urn:x\">" + strings.Repeat("<x:a/>", maxXMLElements) + "</x:e>"
		xml := strings.Replace(string(f.build(f.spec(), nil)), "<samlp:Status>", many+"<samlp:Status>", 1)
		f.refused(f.post([]byte(xml), ""), "more than 4000 elements")
	})
}

// 30. Broken EncryptedAssertion: bad padding, wrong key, truncated.
// Always the same generic refusal and no panic.
func TestHostile30_BrokenEncryption(t *testing.T) {
	t.Parallel()
	cases := map[string]func(t *testing.T, ea *etree.Element){
		"wrong key": func(t *testing.T, ea *etree.Element) {
			f := newFixture(t)
			plain := xmlOf(t, f.signedAssertion(f.spec()))
			*ea = *encryptAssertion(t, plain, attackerKey.cert)
		},
		"bad padding": func(t *testing.T, ea *etree.Element) {
			cv := ea.FindElements(".//CipherValue")
			last := cv[len(cv)-1]
			b, _ := base64.StdEncoding.DecodeString(last.Text())
			b[len(b)-1] ^= 0xff
			last.SetText(base64.StdEncoding.EncodeToString(b))
		},
		"truncated": func(t *testing.T, ea *etree.Element) {
			cv := ea.FindElements(".//CipherValue")
			last := cv[len(cv)-1]
			b, _ := base64.StdEncoding.DecodeString(last.Text())
			last.SetText(base64.StdEncoding.EncodeToString(b[:17]))
		},
		"garbage key": func(t *testing.T, ea *etree.Element) {
			cv := ea.FindElements(".//CipherValue")
			cv[0].SetText(base64.StdEncoding.EncodeToString([]byte("nonsense")))
		},
	}
	for name, mut := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			s := f.spec()
			s.Encrypt = true
			xml := f.build(s, func(resp, a *etree.Element) {
				mut(t, findEl(resp, "EncryptedAssertion"))
			})
			w := f.post(xml, "")
			f.refused(w, "cannot decrypt the assertion")
			if strings.Contains(w.Body.String(), "padding") {
				t.Fatal("error detail leaked to the browser")
			}
		})
	}
}

// 31. Decrypted assertion unsigned while the Response is unsigned.
func TestHostile31_EncryptedUnsigned(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	s := f.spec()
	s.Encrypt, s.SignAssertion, s.SignResponse = true, false, false
	f.refused(f.post(f.build(s, nil), ""), "neither the response nor the assertion is signed")
}

// 33. RelayState that is not a local path, or too long.
func TestHostile33_RelayState(t *testing.T) {
	t.Parallel()
	for _, rs := range []string{
		"https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)",
		"/" + strings.Repeat("a", 80), "cmf/home", "/a\nb",
	} {
		f := newFixture(t)
		f.refused(f.post(f.build(f.spec(), nil), rs), "relay state")
	}
	// A solicited response must bring back our own RelayState.
	f := newFixture(t)
	id, _, track := f.startLogin("")
	s := f.spec()
	s.InResponseTo = id
	f.refused(f.post(f.build(s, nil), "/other", track), "is not the one sent")
}

// 34. Abusive identity data.
func TestHostile34_IdentityData(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		attrs  [][2]string
		reason string
	}{
		{"empty uid", [][2]string{{uidOID, ""}, {ouOID, "cm-admins"}}, "is empty"},
		{"no uid", [][2]string{{ouOID, "cm-admins"}}, "has no attribute"},
		{"multi-valued uid", [][2]string{{uidOID, "alice"}, {uidOID, "root"}, {ouOID, "cm-admins"}}, "has 2 values"},
		{"control char uid", [][2]string{{uidOID, "alice\nroot"}, {ouOID, "cm-admins"}}, "control character"},
		{"role differs by case", [][2]string{{uidOID, "alice"}, {ouOID, "CM-Admins"}}, "match neither"},
		{"role with whitespace", [][2]string{{uidOID, "alice"}, {ouOID, " cm-admins "}}, "match neither"},
		{"no role", [][2]string{{uidOID, "alice"}}, "no role attribute"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			s := f.spec()
			s.Attrs = tc.attrs
			w := f.post(f.build(s, nil), "")
			f.refused(w, tc.reason)
			if !strings.Contains(w.Body.String(), `id="not-authorized"`) {
				t.Fatalf("not the not-authorized page: %s", w.Body)
			}
		})
	}
	// The user ID given to the role script: see role_test.go.
}
