package wizard

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cmtls/cmtls/steps/answers"
)

func offerSave(t *testing.T, f *answers.File, def string, lines ...string) (string, string, error) {
	t.Helper()
	var out bytes.Buffer
	p, err := OfferSave(context.Background(), f, def, Options{Accessible: true,
		In: strings.NewReader(strings.Join(lines, "\n") + "\n"), Out: &out})
	return p, out.String(), err
}

// OfferSave writes the default path on two empty answers, and the file
// loads back as the same run with the typed secret as an env reference.
func TestOfferSaveDefaultPath(t *testing.T) {
	f := parse(t, full)
	f.Server.API.Password = answers.NewSecret([]byte("typed-api-pw"))
	f.ApplyDefaults()
	def := filepath.Join(t.TempDir(), "cmtls-answers.yaml")
	p, out, err := offerSave(t, f, def, "", "")
	if err != nil || p != def {
		t.Fatalf("path %q, err %v\n%s", p, err, out)
	}
	b, err := os.ReadFile(def)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("typed-api-pw")) {
		t.Fatalf("secret written:\n%s", b)
	}
	g, err := answers.Load(def)
	if err != nil {
		t.Fatal(err)
	}
	if g.Server.API.Password.Env != "CM_ADMIN_PASSWORD" || g.Server.Host != "cm1.example.com" || len(g.Agents.Hosts) != len(f.Agents.Hosts) {
		t.Fatalf("saved file differs:\n%s", b)
	}
}

// n saves nothing.
func TestOfferSaveDeclined(t *testing.T) {
	dir := t.TempDir()
	p, out, err := offerSave(t, parse(t, full), filepath.Join(dir, "cmtls-answers.yaml"), "n")
	if err != nil || p != "" {
		t.Fatalf("path %q, err %v\n%s", p, err, out)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("files written: %v", ents)
	}
}

// An existing file is kept when the user does not say to replace it: the
// answers go to the other path given, and replacing takes a y.
func TestOfferSaveNeverOverwritesUnasked(t *testing.T) {
	dir := t.TempDir()
	def := filepath.Join(dir, "cmtls-answers.yaml")
	if err := os.WriteFile(def, []byte("mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other.yaml")
	// save: default yes; path: default; replace?: default no; path: other
	p, out, err := offerSave(t, parse(t, full), def, "", "", "", other)
	if err != nil || p != other {
		t.Fatalf("path %q, err %v\n%s", p, err, out)
	}
	if !strings.Contains(out, "exists. Replace it?") {
		t.Errorf("not asked before replacing:\n%s", out)
	}
	if b, _ := os.ReadFile(def); string(b) != "mine\n" {
		t.Fatalf("existing file changed: %q", b)
	}
	if _, err := answers.Load(other); err != nil {
		t.Fatal(err)
	}
	// y replaces it
	p, out, err = offerSave(t, parse(t, full), def, "y", "", "y")
	if err != nil || p != def {
		t.Fatalf("path %q, err %v\n%s", p, err, out)
	}
	if _, err := answers.Load(def); err != nil {
		t.Fatal(err)
	}
}

// A path in a missing directory is refused and asked again.
func TestOfferSaveBadPathAskedAgain(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "a.yaml")
	p, out, err := offerSave(t, parse(t, full), "", "y", filepath.Join(dir, "nope", "a.yaml"), dir, good)
	if err != nil || p != good {
		t.Fatalf("path %q, err %v\n%s", p, err, out)
	}
	if !strings.Contains(out, "does not exist") || !strings.Contains(out, "is a directory") {
		t.Errorf("refusals not shown:\n%s", out)
	}
}

// Answers saved in another directory name the same files: relative paths
// become absolute against the directory they were relative to; next to
// it they stay as written.
func TestSaveAnswersRebasesRelativePaths(t *testing.T) {
	src, other := t.TempDir(), t.TempDir()
	p := filepath.Join(src, "in.yaml")
	if err := os.WriteFile(p, []byte(`version: 1
server:
  host: cm1.example.com
  api: {url: http://cm1.example.com:7180, password: {file: pw.txt}}
saml:
  idp_metadata: idp.xml
  keystore: {path: saml.jks, password: {env: KS}, alias: k}
  role: {from: script, script: ~/role.sh}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := answers.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ dir, idp, pw string }{
		{other, filepath.Join(src, "idp.xml"), filepath.Join(src, "pw.txt")},
		{src, "idp.xml", "pw.txt"},
	} {
		out := filepath.Join(tc.dir, "saved.yaml")
		if err := SaveAnswers(f, out); err != nil {
			t.Fatal(err)
		}
		g, err := answers.Load(out)
		if err != nil {
			t.Fatal(err)
		}
		if g.SAML.IdPMetadata != tc.idp || g.Server.API.Password.File != tc.pw || g.SAML.Role.Script != "~/role.sh" {
			t.Errorf("saved in %s: idp %q, password file %q, script %q", tc.dir, g.SAML.IdPMetadata, g.Server.API.Password.File, g.SAML.Role.Script)
		}
		if g.ExpandPath(g.SAML.Keystore.Path) != filepath.Join(src, "saml.jks") {
			t.Errorf("saved in %s: keystore %q", tc.dir, g.SAML.Keystore.Path)
		}
	}
	if f.SAML.IdPMetadata != "idp.xml" || f.Server.API.Password.File != "pw.txt" {
		t.Errorf("the caller's answers changed: %q", f.SAML.IdPMetadata)
	}
}
