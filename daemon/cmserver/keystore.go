package cmserver

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/cmtls/cmtls/pki"
)

// KeystoreError is why the server refused to start with TLS on. Java is
// the text CM's log shows for the same cause (notes section 2: the
// AvroRuntimeException from Main.startAgentServer).
type KeystoreError struct {
	Path string
	Java string // e.g. "java.io.FileNotFoundException: /x/.keystore (No such file or directory)"
	Err  error
}

func (e *KeystoreError) Error() string {
	return fmt.Sprintf("keystore %s: %v", e.Path, e.Err)
}
func (e *KeystoreError) Unwrap() error { return e.Err }

// Hint names the fix, including the way back CM admins use.
func (e *KeystoreError) Hint() string {
	return "fix KEYSTORE_PATH/KEYSTORE_PASSWORD (cmtls cert inspect " + e.Path + "), or turn AGENT_TLS and WEB_TLS off in the settings file and restart"
}

// loadKeystoreCert opens the keystore and returns alias's key and chain.
// CM requires the key password to equal the store password.
func loadKeystoreCert(path string, password []byte, alias string) (tls.Certificate, error) {
	if path == "" {
		return tls.Certificate{}, &KeystoreError{Path: "(unset)", Java: "java.lang.IllegalArgumentException: keystore path is empty",
			Err: errors.New("KEYSTORE_PATH is not set")}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		java := fmt.Sprintf("java.io.FileNotFoundException: %s (No such file or directory)", path)
		if errors.Is(err, fs.ErrPermission) {
			java = fmt.Sprintf("java.io.FileNotFoundException: %s (Permission denied)", path)
		} else if !errors.Is(err, fs.ErrNotExist) {
			java = fmt.Sprintf("java.io.IOException: %s: %v", path, err)
		}
		return tls.Certificate{}, &KeystoreError{Path: path, Java: java, Err: err}
	}
	ks, err := pki.ReadKeystore(data, password)
	if err != nil {
		java := "java.io.IOException: Invalid keystore format"
		if errors.Is(err, pki.ErrWrongStorePassword) {
			java = "java.io.IOException: Keystore was tampered with, or password was incorrect"
		}
		return tls.Certificate{}, &KeystoreError{Path: path, Java: java, Err: err}
	}
	cert, err := ks.TLSCertificate(alias, password)
	if err != nil {
		java := fmt.Sprintf("java.lang.IllegalStateException: No such alias %s in keystore %s", alias, path)
		if errors.Is(err, pki.ErrWrongKeyPassword) {
			java = "java.security.UnrecoverableKeyException: Cannot recover key"
		}
		return tls.Certificate{}, &KeystoreError{Path: path, Java: java, Err: err}
	}
	return cert, nil
}
