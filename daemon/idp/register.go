package idp

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// RegisterFunc is the shape of the hook `cmtls saml configure` calls with
// the SP metadata CM serves, after it has saved that metadata for the IdP's
// administrator. Only the sandbox sets it (to Registrar's result): product
// code never talks to a test IdP's private endpoint on its own.
type RegisterFunc = func(ctx context.Context, spMetadata []byte) error

// Registrar returns the RegisterFunc that posts SP metadata to this test
// IdP's /register at baseURL (the sandbox IdP's URL), with the bearer token
// when one is set (an IdP started with OpenRegistration accepts loopback
// clients without one). c nil means http.DefaultClient.
func Registrar(c *http.Client, baseURL, token string) RegisterFunc {
	if c == nil {
		c = http.DefaultClient
	}
	u := strings.TrimRight(baseURL, "/") + PathRegister
	return func(ctx context.Context, spMetadata []byte) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(spMetadata))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/samlmetadata+xml")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := c.Do(req)
		if err != nil {
			return fmt.Errorf("register with the test IdP: %w", err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			return fmt.Errorf("register with the test IdP at %s: %s: %s", u, resp.Status, strings.TrimSpace(string(msg)))
		}
		return nil
	}
}

// Registrar returns a RegisterFunc that registers SPs with s directly, for
// in-process sandboxes and tests.
func (s *Server) Registrar() RegisterFunc {
	return func(_ context.Context, spMetadata []byte) error {
		_, err := s.RegisterSP(spMetadata)
		return err
	}
}
