// Package pki holds the certificate and keystore operations of Steps 1-2 of
// the TLS procedure as pure functions: key generation (randomness passed
// in), self-signed and CA-signed certificates (time passed in), JKS and
// PKCS#12 keystores, DER/PEM, CSRs, chain verification and the host-name
// match the CM agent does (SAN DNS, else CN).
//
// It performs no I/O of its own beyond what callers hand it as bytes,
// except the CN/FQDN check, whose resolver is injected.
package pki
