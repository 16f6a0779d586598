package cmapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
)

// TLSConsoleURL asks the console at the client's base URL where its TLS
// console is: once "Use TLS Encryption for Admin Console" is on, CM
// redirects the plain port (7180) to the TLS one, whatever port that is
// (7183 by default). It returns the https URL without a path
// (https://cm1:7183), or "" when the console answers without redirecting
// to https.
func (c *Client) TLSConsoleURL(ctx context.Context) (string, error) {
	if c.base.Scheme == "https" {
		u := *c.base
		u.Path = ""
		return u.String(), nil
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	hc := *c.hc
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base.String()+"/", nil)
	if err != nil {
		return "", err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("cm console %s: %w", c.base, err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 3 {
		return "", nil
	}
	loc, err := resp.Location()
	if err != nil {
		if errors.Is(err, http.ErrNoLocation) {
			return "", fmt.Errorf("cm console %s: redirect %d without a Location", c.base, resp.StatusCode)
		}
		return "", err
	}
	if loc.Scheme != "https" {
		return "", nil
	}
	return (&url.URL{Scheme: "https", Host: loc.Host}).String(), nil
}
