package pki_test

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/cmtls/cmtls/pki"
	"github.com/cmtls/cmtls/pki/pkitest"
)

// exit2 checks that err is bad input: the sentinel, exit code 2, a hint.
func exit2(t *testing.T, err error, sentinel error, msgHas string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %v", sentinel)
	}
	if !errors.Is(err, sentinel) {
		t.Fatalf("error %q is not %v", err, sentinel)
	}
	var ec interface {
		BadInput() bool
		Hint() string
	}
	if !errors.As(err, &ec) || !ec.BadInput() || strings.TrimSpace(ec.Hint()) == "" {
		t.Fatalf("error %q: want bad input (exit 2) and a hint", err)
	}
	if msgHas != "" && !strings.Contains(err.Error()+" | "+ec.Hint(), msgHas) {
		t.Fatalf("error %q / hint %q lacks %q", err, ec.Hint(), msgHas)
	}
}

func TestReadKeystoreTable(t *testing.T) {
	t.Parallel()
	jks := pkitest.SelfSignedKeystore(t, "jks", "jetty", "cm1.example.com", nil, pass)
	p12 := pkitest.SelfSignedKeystore(t, "pkcs12", "jetty", "cm1.example.com", nil, pass)
	cert, _ := pkitest.SelfSigned(t, "x.example.com", nil)
	cases := []struct {
		name     string
		data     []byte
		pw       string
		sentinel error // nil: must succeed
		msg      string
	}{
		{"jks ok", jks, "changeit", nil, ""},
		{"pkcs12 ok", p12, "changeit", nil, ""},
		{"jks wrong store password", jks, "wrongpass", pki.ErrWrongStorePassword, "--storepass"},
		{"pkcs12 wrong store password", p12, "wrongpass", pki.ErrWrongStorePassword, "--storepass"},
		{"empty file", nil, "changeit", pki.ErrUnknownFormat, "empty"},
		{"pem certificate", pkitest.CertPEM(cert), "changeit", pki.ErrUnknownFormat, "PEM"},
		{"text", []byte("hello world"), "changeit", pki.ErrUnknownFormat, "JKS or PKCS#12"},
		{"der certificate", cert.Raw, "changeit", pki.ErrUnknownFormat, ""},
		{"jks magic only", jks[:4], "changeit", pki.ErrTruncated, "cut short"},
		{"jks first 2 bytes", jks[:2], "changeit", pki.ErrTruncated, ""},
		{"jks half", jks[:len(jks)/2], "changeit", pki.ErrTruncated, ""},
		{"jks without digest", jks[:len(jks)-20], "changeit", pki.ErrTruncated, ""},
		{"jks last byte missing", jks[:len(jks)-1], "changeit", pki.ErrTruncated, ""},
		{"pkcs12 half", p12[:len(p12)/2], "changeit", pki.ErrTruncated, ""},
		{"pkcs12 last byte missing", p12[:len(p12)-1], "changeit", pki.ErrTruncated, ""},
		{"jks bad version", append([]byte{0xfe, 0xed, 0xfe, 0xed, 0, 0, 0, 9}, jks[8:]...), "changeit", pki.ErrUnknownFormat, ""},
		{"non-ascii password", jks, "pässwörd1", pki.ErrBadPassword, "ASCII"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k, err := pki.ReadKeystore(c.data, []byte(c.pw))
			if c.sentinel == nil {
				if err != nil {
					t.Fatal(err)
				}
				if _, _, err := k.PrivateKeyEntry("jetty", nil); err != nil {
					t.Fatal(err)
				}
				return
			}
			exit2(t, err, c.sentinel, c.msg)
		})
	}
}

func TestKeyEntryTable(t *testing.T) {
	t.Parallel()
	for _, typ := range []string{"jks", "pkcs12"} {
		k, err := pki.ReadKeystore(pkitest.SelfSignedKeystore(t, typ, "jetty", "cm1.example.com", nil, pass), pass)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = k.PrivateKeyEntry("jetty", []byte("otherpass"))
		exit2(t, err, pki.ErrWrongKeyPassword, "key password")
		_, _, err = k.PrivateKeyEntry("tomcat", nil)
		exit2(t, err, pki.ErrNoSuchAlias, "jetty")
		_, err = k.TLSCertificate("nope", nil)
		exit2(t, err, pki.ErrNoSuchAlias, "--alias with one of: jetty")
		_, err = k.ExportDER("nope")
		exit2(t, err, pki.ErrNoSuchAlias, "")
		if _, err := k.TLSCertificate("JETTY", pass); err != nil {
			t.Fatalf("%s: alias lookup is case-insensitive like keytool: %v", typ, err)
		}
	}
}

func TestEncodeKeystoreTable(t *testing.T) {
	t.Parallel()
	cert, key := pkitest.SelfSigned(t, "cm1.example.com", nil)
	other, _ := pkitest.SelfSigned(t, "cm1.example.com", nil)
	chain := []*x509.Certificate{cert}
	cases := []struct {
		name, typ, alias, pw string
		chain                []*x509.Certificate
		sentinel             error
	}{
		{"jks ok", "jks", "jetty", "changeit", chain, nil},
		{"pkcs12 ok", "PKCS12", "jetty", "changeit", chain, nil},
		{"short password", "jks", "jetty", "12345", chain, pki.ErrBadPassword},
		{"empty password", "pkcs12", "jetty", "", chain, pki.ErrBadPassword},
		{"non-ascii password", "jks", "jetty", "pässwörd1", chain, pki.ErrBadPassword},
		{"control char password", "jks", "jetty", "change\nit", chain, pki.ErrBadPassword},
		{"unknown store type", "jceks", "jetty", "changeit", chain, pki.ErrBadArgument},
		{"empty alias", "jks", " ", "changeit", chain, pki.ErrBadArgument},
		{"no chain", "jks", "jetty", "changeit", nil, pki.ErrBadArgument},
		{"key mismatch", "pkcs12", "jetty", "changeit", []*x509.Certificate{other}, pki.ErrKeyMismatch},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := pki.EncodeKeystore(c.typ, c.alias, key, c.chain, []byte(c.pw), pkitest.Now, rand.Reader)
			if c.sentinel != nil {
				exit2(t, err, c.sentinel, "")
				if b != nil {
					t.Fatal("bytes returned with an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			k, err := pki.ReadKeystore(b, []byte(c.pw))
			if err != nil || k.Type() != strings.ToLower(c.typ) {
				t.Fatalf("read back: %v", err)
			}
		})
	}
}

func TestParseCertificatesTable(t *testing.T) {
	t.Parallel()
	a, key := pkitest.SelfSigned(t, "a.example.com", nil)
	b, _ := pkitest.SelfSigned(t, "b.example.com", nil)
	one := pkitest.CertPEM(a)
	two := pkitest.CertPEM(a, b)
	crlf := []byte(strings.ReplaceAll(string(one), "\n", "\r\n"))
	cases := []struct {
		name     string
		data     []byte
		single   bool
		want     int
		sentinel error
	}{
		{"pem one", one, true, 1, nil},
		{"pem two", two, false, 2, nil},
		{"der", a.Raw, true, 1, nil},
		{"keytool crlf pem with text", append([]byte("subject=CN=a\n"), crlf...), true, 1, nil},
		{"two where one expected", two, true, 0, pki.ErrBadPEM},
		{"empty", nil, false, 0, pki.ErrBadPEM},
		{"garbage", []byte("not a certificate at all"), false, 0, pki.ErrBadPEM},
		{"private key pem", pkitest.KeyPEM(t, key), false, 0, pki.ErrBadPEM},
		{"cert then key", append(append([]byte{}, one...), pkitest.KeyPEM(t, key)...), false, 0, pki.ErrBadPEM},
		{"truncated pem", one[:len(one)-30], false, 0, pki.ErrBadPEM},
		{"garbage inside block", []byte(strings.Replace(string(one), "\n", "\n!!!garbage!!!\n", 2)), false, 0, pki.ErrBadPEM},
		{"bad der", a.Raw[:len(a.Raw)-5], false, 0, pki.ErrBadPEM},
		{"pem with non-certificate body", []byte("-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n"), false, 0, pki.ErrBadPEM},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var n int
			var err error
			if c.single {
				var cert *x509.Certificate
				cert, err = pki.ParseCertificate(c.data)
				if err == nil && cert != nil {
					n = 1
				}
			} else {
				var cs []*x509.Certificate
				cs, err = pki.ParseCertificates(c.data)
				n = len(cs)
			}
			if c.sentinel != nil {
				exit2(t, err, c.sentinel, "")
				return
			}
			if err != nil || n != c.want {
				t.Fatalf("got %d certs, %v; want %d", n, err, c.want)
			}
		})
	}
}

func TestBuildImportChainTable(t *testing.T) {
	t.Parallel()
	root := pkitest.NewCA(t, "Root")
	inter := root.Intermediate(t, "Intermediate")
	otherRoot := pkitest.NewCA(t, "Other Root")
	key := pkitest.ECKey(t)
	now := pkitest.Now
	good := inter.LeafForKey(t, key.Public(), "cm1.example.com", []string{"cm1.example.com"}, now.Add(-time.Hour), now.AddDate(1, 0, 0))
	expired := inter.LeafForKey(t, key.Public(), "cm1.example.com", nil, now.AddDate(-2, 0, 0), now.AddDate(-1, 0, 0))
	future := inter.LeafForKey(t, key.Public(), "cm1.example.com", nil, now.AddDate(0, 1, 0), now.AddDate(1, 0, 0))
	foreign, _ := inter.Leaf(t, "cm1.example.com", nil, now.Add(-time.Hour), now.AddDate(1, 0, 0))
	cases := []struct {
		name     string
		certs    []*x509.Certificate
		sentinel error
		chainLen int
	}{
		{"leaf inter root", []*x509.Certificate{good, inter.Cert, root.Cert}, nil, 3},
		{"leaf root inter (any order)", []*x509.Certificate{good, root.Cert, inter.Cert}, nil, 3},
		{"expired", []*x509.Certificate{expired, inter.Cert, root.Cert}, pki.ErrCertNotValid, 0},
		{"not yet valid", []*x509.Certificate{future, inter.Cert, root.Cert}, pki.ErrCertNotValid, 0},
		{"other key", []*x509.Certificate{foreign, inter.Cert, root.Cert}, pki.ErrKeyMismatch, 0},
		{"no root", []*x509.Certificate{good, inter.Cert}, pki.ErrChainInvalid, 0},
		{"missing intermediate", []*x509.Certificate{good, root.Cert}, pki.ErrChainInvalid, 0},
		{"wrong root", []*x509.Certificate{good, inter.Cert, otherRoot.Cert}, pki.ErrChainInvalid, 0},
		{"nothing", nil, pki.ErrBadArgument, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			chain, err := pki.BuildImportChain(key, c.certs, nil, now)
			if c.sentinel != nil {
				exit2(t, err, c.sentinel, "")
				return
			}
			if err != nil || len(chain) != c.chainLen || !chain[0].Equal(good) || !chain[2].Equal(root.Cert) {
				t.Fatalf("chain %d, %v", len(chain), err)
			}
		})
	}
}

func TestGenerateKeyAndSelfSignedTable(t *testing.T) {
	t.Parallel()
	bad := []struct {
		alg  string
		size int
	}{{"RSA", 1024}, {"RSA", 2047}, {"EC", 521}, {"EC", 128}, {"DSA", 2048}, {"", 0}}
	for _, b := range bad {
		_, err := pki.GenerateKey(rand.Reader, b.alg, b.size)
		exit2(t, err, pki.ErrBadArgument, "--key")
	}
	k, err := pki.GenerateKey(rand.Reader, "ec", 384)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []pki.CertOptions{{}, {Subject: pki.Name{CN: "a"}, ValidityDays: -1}, {Subject: pki.Name{CN: "a"}, ValidityDays: 40000}} {
		_, err := pki.SelfSigned(rand.Reader, k, o, pkitest.Now)
		exit2(t, err, pki.ErrBadArgument, "")
	}
	c, err := pki.SelfSigned(rand.Reader, k, pki.CertOptions{Subject: pki.Name{CN: "10.0.0.5"}, DNSNames: []string{"cm1.example.com"}, ValidityDays: 180}, pkitest.Now)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.IPAddresses) != 1 || !c.IPAddresses[0].Equal(net.ParseIP("10.0.0.5")) || c.DNSNames[0] != "cm1.example.com" {
		t.Fatalf("SANs %v %v", c.DNSNames, c.IPAddresses)
	}
	if !c.NotAfter.Equal(pkitest.Now.AddDate(0, 0, 180)) || c.SignatureAlgorithm != x509.ECDSAWithSHA384 {
		t.Fatalf("validity %v, sig %v", c.NotAfter, c.SignatureAlgorithm)
	}
}

func TestParseDNameTable(t *testing.T) {
	t.Parallel()
	n, err := pki.ParseDName(`CN=cm1.example.com, OU=IT, O=Example\, Inc., L=City, ST=State, C=us`)
	if err != nil || n != (pki.Name{CN: "cm1.example.com", OU: "IT", O: "Example, Inc.", L: "City", ST: "State", C: "US"}) {
		t.Fatalf("%+v %v", n, err)
	}
	for _, s := range []string{"OU", "X=1", "C=USA", "OU=IT, EMAIL=a@b"} {
		_, err := pki.ParseDName(s)
		exit2(t, err, pki.ErrBadArgument, "")
	}
}

func TestMatchHostnameTable(t *testing.T) {
	t.Parallel()
	ca := pkitest.NewCA(t, "Root")
	mk := func(cn string, sans ...string) *x509.Certificate {
		c, _ := ca.Leaf(t, cn, sans, pkitest.Now, pkitest.Now.Add(time.Hour))
		return c
	}
	cases := []struct {
		name string
		cert *x509.Certificate
		host string
		want string // "" = match
	}{
		{"san dns", mk("cm1.example.com", "cm1.example.com"), "cm1.example.com", ""},
		{"san case-insensitive", mk("x", "CM1.Example.com"), "cm1.example.COM", ""},
		{"cn only", mk("cm1.example.com"), "cm1.example.com", ""},
		{"wildcard san", mk("x", "*.example.com"), "cm1.example.com", ""},
		{"ip san", mk("cm1.example.com", "cm1.example.com", "192.0.2.10"), "192.0.2.10", ""},
		{"san ignores cn", mk("cm1.example.com", "other.example.com"), "cm1.example.com",
			"Peer certificate subjectAltName does not match host, expected cm1.example.com, got DNS:other.example.com"},
		{"localhost vs fqdn san", mk("cm1.example.com", "cm1.example.com"), "localhost",
			"Peer certificate subjectAltName does not match host, expected localhost, got DNS:cm1.example.com"},
		{"ip vs cn", mk("cdh-1.example.com"), "192.0.2.155",
			"Peer certificate commonName does not match host, expected 192.0.2.155, got cdh-1.example.com"},
		{"short name vs fqdn", mk("cm1.example.com"), "cm1",
			"Peer certificate commonName does not match host, expected cm1, got cm1.example.com"},
		{"wildcard one label only", mk("x", "*.example.com"), "a.b.example.com",
			"Peer certificate subjectAltName does not match host, expected a.b.example.com, got DNS:*.example.com"},
		{"ip vs dns san", mk("cm1.example.com", "cm1.example.com"), "192.0.2.10",
			"Peer certificate subjectAltName does not match host, expected 192.0.2.10, got DNS:cm1.example.com"},
		{"no cn", mk("", "192.0.2.1"), "cm1.example.com", "no commonName in peer certificate"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := pki.MatchHostname(c.cert, c.host)
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var he *pki.HostMismatchError
			if !errors.As(err, &he) || err.Error() != c.want || he.Hint() == "" {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
}

func TestCheckServerNameTable(t *testing.T) {
	t.Parallel()
	r := pki.MapResolver{
		"cm1.example.com":    {"192.0.2.10"},
		"other.example.com":  {"192.0.2.99"},
		"localhost":          {"127.0.0.1", "::1"},
		"cm1":                {"192.0.2.10"},
		"debian.example.com": {"127.0.1.1"},
	}
	host := []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("192.0.2.10"), net.ParseIP("::1")}
	cases := []struct {
		name   string
		errors []string
		warns  []string
	}{
		{"cm1.example.com", nil, nil},
		{"localhost", nil, []string{"localhost"}},
		{"cm1", nil, []string{"short-name"}},
		{"192.0.2.10", nil, []string{"bare-ip"}},
		{"192.0.2.77", []string{"not-this-host"}, []string{"bare-ip"}},
		{"other.example.com", []string{"not-this-host"}, nil},
		{"nosuch.example.com", []string{"unresolvable"}, nil},
		{"nosuch", []string{"unresolvable"}, []string{"short-name"}},
		{"debian.example.com", nil, []string{"loopback-only"}},
		{"", []string{"empty"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := pki.CheckServerName(context.Background(), r, c.name, host)
			var errs, warns []string
			for _, f := range got.Findings {
				if f.Message == "" || f.Hint == "" {
					t.Errorf("finding without message or hint: %+v", f)
				}
				if f.Severity == pki.SeverityError {
					errs = append(errs, f.Code)
				} else {
					warns = append(warns, f.Code)
				}
			}
			if strings.Join(errs, ",") != strings.Join(c.errors, ",") || strings.Join(warns, ",") != strings.Join(c.warns, ",") {
				t.Fatalf("errors %v warnings %v; want %v %v", errs, warns, c.errors, c.warns)
			}
			if got.OK() != (len(c.errors) == 0) || (got.Err() == nil) != got.OK() {
				t.Fatal("OK/Err disagree with findings")
			}
			if err := got.Err(); err != nil {
				exit2(t, err, pki.ErrBadArgument, "")
			}
		})
	}
	// remote server host: only its addresses count
	got := pki.CheckServerName(context.Background(), r, "cm1.example.com", []net.IP{net.ParseIP("192.0.2.99")})
	if got.OK() {
		t.Fatal("a name resolving to another host's address must fail")
	}
}

func TestVerifyChain(t *testing.T) {
	t.Parallel()
	root := pkitest.NewCA(t, "Root")
	inter := root.Intermediate(t, "Inter")
	leaf, _ := inter.Leaf(t, "cm1.example.com", []string{"cm1.example.com"}, pkitest.Now.Add(-time.Hour), pkitest.Now.AddDate(0, 1, 0))
	if _, err := pki.VerifyChain(leaf, []*x509.Certificate{inter.Cert}, []*x509.Certificate{root.Cert}, "cm1.example.com", pkitest.Now); err != nil {
		t.Fatal(err)
	}
	var ve *pki.VerifyError
	if _, err := pki.VerifyChain(leaf, nil, []*x509.Certificate{root.Cert}, "", pkitest.Now); !errors.As(err, &ve) {
		t.Fatalf("missing intermediate: %v", err)
	}
	if _, err := pki.VerifyChain(leaf, []*x509.Certificate{inter.Cert}, []*x509.Certificate{root.Cert}, "", pkitest.Now.AddDate(1, 0, 0)); !errors.As(err, &ve) || !strings.Contains(ve.Hint(), "renew") {
		t.Fatalf("expired: %v", err)
	}
	var he *pki.HostMismatchError
	if _, err := pki.VerifyChain(leaf, []*x509.Certificate{inter.Cert}, []*x509.Certificate{root.Cert}, "cm2.example.com", pkitest.Now); !errors.As(err, &he) {
		t.Fatalf("wrong host: %v", err)
	}
	// a self-signed server certificate is its own root (verify_cert_file = server.pem)
	ss, _ := pkitest.SelfSigned(t, "cm1.example.com", nil)
	if _, err := pki.VerifyChain(ss, nil, []*x509.Certificate{ss}, "cm1.example.com", pkitest.Now); err != nil {
		t.Fatal(err)
	}
	info := pki.Describe(ss, pkitest.Now)
	if info.Status != "valid" || !info.SelfSigned || info.KeyAlgorithm != "EC" || info.DaysLeft != 180 || info.DNSNames[0] != "cm1.example.com" || len(info.SHA256) != 95 {
		t.Fatalf("%+v", info)
	}
}

func TestParsePrivateKeyTable(t *testing.T) {
	t.Parallel()
	ec := pkitest.ECKey(t)
	rsaKey := pkitest.RSAKey(t)
	cert, _ := pkitest.SelfSigned(t, "a.example.com", nil)
	for _, ok := range [][]byte{pkitest.KeyPEM(t, ec), pkitest.KeyPEM(t, rsaKey), pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey))} {
		k, err := pki.ParsePrivateKey(ok)
		if err != nil || k == nil {
			t.Fatal(err)
		}
	}
	for name, bad := range map[string][]byte{
		"encrypted pkcs8":  pemBlock("ENCRYPTED PRIVATE KEY", []byte{1, 2, 3}),
		"legacy encrypted": []byte("-----BEGIN RSA PRIVATE" + " KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE" + " KEY-----\n"),
		"certificate":      pkitest.CertPEM(cert),
		"garbage":          []byte("garbage"),
		"empty":            nil,
		"damaged der":      []byte{0x30, 0x03, 1, 2, 3},
		"damaged pem":      pemBlock("PRIVATE KEY", []byte{0x30, 0x01, 0}),
	} {
		_, err := pki.ParsePrivateKey(bad)
		if err == nil {
			t.Fatalf("%s: accepted", name)
		}
		exit2(t, err, pki.ErrBadPEM, "")
	}
}

func pemBlock(typ string, b []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b})
}

func TestGenerateKeystore(t *testing.T) {
	t.Parallel()
	ks, cert, err := pki.GenerateKeystore(rand.Reader, "pkcs12", "jetty", "EC", 256,
		pki.CertOptions{Subject: pki.Name{CN: "cm1.example.com"}, ValidityDays: 180}, pass, pkitest.Now)
	if err != nil {
		t.Fatal(err)
	}
	k, err := pki.ReadKeystore(ks, pass)
	if err != nil {
		t.Fatal(err)
	}
	if der, _ := k.ExportDER("jetty"); string(der) != string(cert.Raw) {
		t.Fatal("exported DER is not the returned certificate")
	}
	_, _, err = pki.GenerateKeystore(rand.Reader, "jks", "jetty", "EC", 256, pki.CertOptions{Subject: pki.Name{CN: "a"}}, []byte("short"), pkitest.Now)
	exit2(t, err, pki.ErrBadPassword, "")
	_, _, err = pki.GenerateKeystore(rand.Reader, "bks", "jetty", "EC", 256, pki.CertOptions{Subject: pki.Name{CN: "a"}}, pass, pkitest.Now)
	exit2(t, err, pki.ErrBadArgument, "")
}

// TestStoreTypeMismatchNamesTheRealType: "type: jks" naming a PKCS#12 file
// (keytool's default since JDK 9), or the reverse, is bad input naming the
// type the file really is; a match, or no type, passes.
func TestStoreTypeMismatchNamesTheRealType(t *testing.T) {
	pass := []byte("changeit")
	p12 := pkitest.SelfSignedKeystore(t, "pkcs12", "jetty", "cm1.example.com", nil, pass)
	jks := pkitest.SelfSignedKeystore(t, "jks", "jetty", "cm1.example.com", nil, pass)
	err := pki.CheckStoreType(p12, "JKS")
	exit2(t, err, pki.ErrStoreTypeMismatch, "is a PKCS#12 keystore, not JKS")
	var h interface {
		Hint() string
		BadInput() bool
	}
	if !errors.As(err, &h) || !h.BadInput() || !strings.Contains(h.Hint(), "pkcs12") {
		t.Fatalf("hint/kind: %v", err)
	}
	exit2(t, pki.CheckStoreType(jks, "p12"), pki.ErrStoreTypeMismatch, "is a JKS keystore, not PKCS#12")
	for _, c := range []struct {
		data []byte
		typ  string
	}{{p12, "pkcs12"}, {p12, "PFX"}, {jks, "jks"}, {jks, ""}, {[]byte("not a keystore"), "jks"}} {
		if err := pki.CheckStoreType(c.data, c.typ); err != nil {
			t.Fatalf("%q: %v", c.typ, err)
		}
	}
}
