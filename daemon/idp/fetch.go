package idp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/crewjam/saml"

	"github.com/cmtls/cmtls/pki/samlxml"
)

// MetadataSource is a URL the IdP loads SP metadata from by itself, as
// Shibboleth IdP's FileBackedHTTPMetadataProvider or SimpleSAMLphp's
// metarefresh module do: the IdP's administrator names where an SP
// publishes its metadata, and the SP needs no write access to the IdP.
type MetadataSource struct {
	// URL is where the SP serves its metadata, e.g.
	// http://localhost:7180/saml/metadata.
	URL string
	// CAFile is a PEM bundle that verifies the source's TLS certificate,
	// read at every fetch (the SP may move to TLS after the IdP started);
	// "" means the system roots. TLS is never skipped.
	CAFile string
}

// Fetch limits: SP metadata is a few kB; a source that is slow or huge
// must not hold a login up for long or fill memory.
const (
	fetchTimeout   = 10 * time.Second
	fetchMaxBytes  = samlxml.MaxXMLBytes
	fetchRedirects = 3
)

// errUnknownSP is an issuer that neither a saved nor a fetched metadata
// names.
var errUnknownSP = os.ErrNotExist

// lookupSP is the metadata of the SP with this entity ID: the one trusted
// already, else the one a configured source serves now. stale, when not
// nil, is a trusted metadata whose certificates did not verify a request:
// the sources are fetched again (the SP's keys may have changed since) and
// the answer is what they serve now, or errUnknownSP.
//
// Only the configured sources are fetched, never a URL taken from the
// request (an entity ID is often a URL); fetched metadata is trusted only
// when its entityID is the issuer's. Fetches are one at a time: requests
// that waited for another fetch use its result.
func (s *Server) lookupSP(ctx context.Context, issuer string, stale *saml.EntityDescriptor) (*saml.EntityDescriptor, error) {
	s.mu.Lock()
	ed, ok := s.sps[issuer]
	s.mu.Unlock()
	if ok && stale == nil {
		return ed, nil
	}
	if len(s.cfg.SPMetadata) == 0 || issuer == "" {
		if ok {
			return ed, nil
		}
		return nil, errUnknownSP
	}
	s.fetchMu.Lock()
	defer s.fetchMu.Unlock()
	s.mu.Lock()
	cur, ok := s.sps[issuer]
	s.mu.Unlock()
	if ok && cur != stale {
		// Another request loaded it (or loaded it again) meanwhile.
		return cur, nil
	}
	for _, src := range s.cfg.SPMetadata {
		b, err := s.fetch(ctx, src)
		if err != nil {
			s.log.Warn("idp: cannot load SP metadata", "url", src.URL, "err", err)
			continue
		}
		got, err := parseSP(b)
		if err != nil {
			s.log.Warn("idp: SP metadata refused", "url", src.URL, "err", err)
			continue
		}
		if got.EntityID != issuer {
			s.log.Warn("idp: SP metadata names another entity ID: not trusted for this issuer",
				"url", src.URL, "entityID", got.EntityID, "issuer", issuer)
			continue
		}
		if err := s.trustSP(got, b, true); err != nil {
			return nil, err
		}
		s.log.Info("idp: SP metadata loaded", "url", src.URL, "entityID", issuer)
		return got, nil
	}
	return nil, errUnknownSP
}

// fetch GETs src's metadata: bounded in time and size, TLS verified with
// src.CAFile as it is now, redirects followed only on the same host and
// never from https down to http (a console with TLS on sends its plain
// port's clients to https; Cloudera Manager documentation, "Configuring
// TLS Encryption for Cloudera Manager").
func (s *Server) fetch(ctx context.Context, src MetadataSource) ([]byte, error) {
	start, err := url.Parse(src.URL)
	if err != nil || (start.Scheme != "http" && start.Scheme != "https") || start.Host == "" {
		return nil, fmt.Errorf("source %q is not an http(s) URL", src.URL)
	}
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	var caErr error
	if src.CAFile != "" {
		pool := x509.NewCertPool()
		pem, err := os.ReadFile(src.CAFile)
		switch {
		case err != nil:
			caErr = err
		case !pool.AppendCertsFromPEM(pem):
			caErr = fmt.Errorf("%s: no PEM certificate", src.CAFile)
		}
		// An unreadable CA file trusts nothing (an https source then
		// fails); it never falls back to other roots.
		tlsConf.RootCAs = pool
	}
	c := &http.Client{
		Timeout:   fetchTimeout,
		Transport: &http.Transport{TLSClientConfig: tlsConf, Proxy: nil, ResponseHeaderTimeout: fetchTimeout},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			prev := via[len(via)-1].URL
			switch {
			case len(via) > fetchRedirects:
				return errors.New("too many redirects")
			case req.URL.Hostname() != start.Hostname():
				return fmt.Errorf("redirect to another host (%s)", req.URL.Host)
			case prev.Scheme == "https" && req.URL.Scheme != "https":
				return errors.New("redirect from https to http")
			}
			return nil
		},
	}
	defer c.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, start.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/samlmetadata+xml, application/xml;q=0.9")
	resp, err := c.Do(req)
	if err != nil {
		if caErr != nil {
			return nil, fmt.Errorf("%w (CA file: %v)", err, caErr)
		}
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s answered %s", resp.Request.URL, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, fetchMaxBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > fetchMaxBytes {
		return nil, fmt.Errorf("metadata larger than %d bytes", fetchMaxBytes)
	}
	return b, nil
}
