package pki

import (
	"crypto/x509"
	"fmt"
	"net"
	"strings"
)

// HostMismatchError is the CM agent's WrongHost: the certificate does not
// carry the name the agent connects to. Its text is the agent's own (M2Crypto
// SSL.Checker.WrongHost), so users can match it with their logs.
type HostMismatchError struct {
	Field    string // "subjectAltName" or "commonName"
	Expected string // server_host as written
	Got      string // "DNS:a, DNS:b" or the CN
}

func (e *HostMismatchError) Error() string {
	if e.Field == "commonName" && e.Got == "" {
		return "no commonName in peer certificate"
	}
	return fmt.Sprintf("Peer certificate %s does not match host, expected %s, got %s", e.Field, e.Expected, e.Got)
}

// Hint names the fix.
func (e *HostMismatchError) Hint() string {
	return fmt.Sprintf("make server_host on the agents the name in the certificate, or re-issue the certificate with CN and SAN %s", e.Expected)
}

// MatchHostname checks host the way the CM agent does after the TLS
// handshake (M2Crypto's SSL.Checker, notes: cloudera-manager section 2):
// host is compared exactly as written in config.ini's server_host, never
// resolved. When the certificate has subjectAltName dNSName entries only they
// count (an IP host is compared with the SAN's IP addresses); otherwise the
// CN is compared. Names compare case-insensitively, and "*" matches one
// whole left-most label.
func MatchHostname(cert *x509.Certificate, host string) error {
	hostIP := net.ParseIP(host)
	if len(cert.DNSNames) > 0 || (hostIP != nil && len(cert.IPAddresses) > 0) {
		if hostIP != nil {
			for _, ip := range cert.IPAddresses {
				if ip.Equal(hostIP) {
					return nil
				}
			}
		} else {
			for _, d := range cert.DNSNames {
				if matchName(host, d) {
					return nil
				}
			}
		}
		if len(cert.DNSNames) > 0 {
			return &HostMismatchError{Field: "subjectAltName", Expected: host, Got: SANString(cert)}
		}
	}
	cn := cert.Subject.CommonName
	if cn == "" {
		return &HostMismatchError{Field: "commonName", Expected: host}
	}
	if matchName(host, cn) {
		return nil
	}
	return &HostMismatchError{Field: "commonName", Expected: host, Got: cn}
}

func matchName(host, pattern string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	pattern = strings.ToLower(strings.TrimSuffix(pattern, "."))
	if host == "" || pattern == "" {
		return false
	}
	if host == pattern {
		return true
	}
	rest, ok := strings.CutPrefix(pattern, "*.")
	if !ok || strings.Contains(rest, "*") || !strings.Contains(rest, ".") {
		return false
	}
	first, hostRest, ok := strings.Cut(host, ".")
	return ok && first != "" && hostRest == rest
}

// SANString renders the subjectAltName as OpenSSL prints it, which is what
// the agent's error shows: "DNS:a, DNS:b, IP Address:10.0.0.1".
func SANString(cert *x509.Certificate) string {
	var parts []string
	for _, d := range cert.DNSNames {
		parts = append(parts, "DNS:"+d)
	}
	for _, ip := range cert.IPAddresses {
		parts = append(parts, "IP Address:"+ip.String())
	}
	for _, e := range cert.EmailAddresses {
		parts = append(parts, "email:"+e)
	}
	for _, u := range cert.URIs {
		parts = append(parts, "URI:"+u.String())
	}
	return strings.Join(parts, ", ")
}
