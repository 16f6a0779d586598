package remotetest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"github.com/skeema/knownhosts"
	"golang.org/x/crypto/ssh"
)

// Key is a generated key pair with its private key written to Path
// (OpenSSH format, 0600) and its public key to Path+".pub".
type Key struct {
	Signer ssh.Signer
	Path   string
}

// Public is the public key.
func (k *Key) Public() ssh.PublicKey { return k.Signer.PublicKey() }

// AuthorizedLine is the key as a line of authorized_keys / known_hosts.
func (k *Key) AuthorizedLine() string { return string(ssh.MarshalAuthorizedKey(k.Public())) }

// NewKey makes an ed25519 key in dir (t.TempDir() when dir is "").
// passphrase, when not empty, encrypts the file.
func NewKey(t testing.TB, dir, name string, passphrase []byte) *Key {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var blk *pem.Block
	if len(passphrase) > 0 {
		blk, err = ssh.MarshalPrivateKeyWithPassphrase(priv, name, passphrase)
	} else {
		blk, err = ssh.MarshalPrivateKey(priv, name)
	}
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(blk), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p+".pub", ssh.MarshalAuthorizedKey(s.PublicKey()), 0o644); err != nil {
		t.Fatal(err)
	}
	return &Key{Signer: s, Path: p}
}

// AddKnownHost appends addr's key to a known_hosts file (made if missing).
func AddKnownHost(t testing.TB, file, addr string, key ssh.PublicKey) {
	t.Helper()
	f, err := os.OpenFile(file, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(knownhosts.Line([]string{addr}, key) + "\n"); err != nil {
		t.Fatal(err)
	}
}
