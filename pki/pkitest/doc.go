// Package pkitest makes certificate authorities, leaves and keystores for
// other packages' tests. Keys are ECDSA P-256 (fast) unless a test asks for
// the process-wide cached RSA-2048 key. Nothing here is for production use.
//
// What does not belong here: certificate logic the tool itself runs (that
// is package pki, which this package only calls), and fixtures on disk
// (keys are made at test time; no private key is committed).
package pkitest
