package pki

import (
	"bytes"
	"crypto"
	"encoding/pem"
	"strings"
)

// ParsePrivateKey reads an unencrypted private key (RSA or EC) from PEM
// ("PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY") or DER, for building a
// keystore from a CA-issued key and certificate (answers file
// server.keystore.import.key). Encrypted keys are refused with the command
// that decrypts them.
func ParsePrivateKey(data []byte) (crypto.Signer, error) {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == 0x30 {
		k, err := parseAnyPrivateKey(trimmed)
		if err != nil {
			return nil, inputErr("give an unencrypted RSA or EC private key in PEM or DER",
				"%w: private key: %v", ErrBadPEM, err)
		}
		return k, nil
	}
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		switch {
		case b.Type == "ENCRYPTED PRIVATE KEY" || b.Headers["Proc-Type"] != "":
			return nil, inputErr("decrypt it first: openssl pkey -in KEY -out KEY.plain (then keep KEY.plain mode 0600)",
				"%w: the private key is encrypted", ErrBadPEM)
		case strings.HasSuffix(b.Type, "PRIVATE KEY"):
			k, err := parseAnyPrivateKey(b.Bytes)
			if err != nil {
				return nil, inputErr("give an unencrypted RSA or EC private key in PEM or DER",
					"%w: private key: %v", ErrBadPEM, err)
			}
			return k, nil
		}
	}
	return nil, inputErr("give an unencrypted RSA or EC private key in PEM or DER",
		"%w: no private key found (starts with %s)", ErrBadPEM, describeStart(data))
}
