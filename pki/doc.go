// Package pki holds the certificate and keystore operations of Steps 1-2 of
// the TLS procedure as pure functions: key generation (randomness passed
// in), self-signed and CA-signed certificates (time passed in), JKS and
// PKCS#12 keystores, DER/PEM, CSRs, chain verification and the host-name
// match the CM agent does (SAN DNS, else CN).
//
// Files: keystore.go (Keystore, ReadKeystore, EncodeKeystore, passwords),
// jks.go (JKS via keystore-go, with a bounds check first), pkcs12.go and
// pkcs12read.go (PKCS#12 written and read here so aliases survive; legacy
// files fall back to go-pkcs12), cert.go (keys, self-signed certificates,
// PEM/DER parsing), ops.go (export, convert, CSR, import chain, inspect,
// verify), host.go (the agent's host-name check), namecheck.go (the CN/FQDN
// check of Step 2.3), errors.go (bad-input errors: exit code 2 and a hint).
//
// It performs no I/O of its own beyond what callers hand it as bytes,
// except the CN/FQDN check, whose resolver is injected. Files, prompts and
// flags belong to cmd; pkitest makes CAs, leaves and keystores for tests.
package pki
