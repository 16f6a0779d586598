package saml

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/cmtls/cmtls/remote/cmapi"
	"github.com/cmtls/cmtls/steps"
)

// Step ids of `saml rollback`.
const (
	StepRollbackSettings = "saml-rollback-settings"
	StepRollbackRestart  = "saml-rollback-restart"
	StepRollbackVerify   = "saml-rollback-verify"

	titleRollbackSettings = "Undo saml configure: CM's authentication settings and role mappings as they were"
	titleRollbackRestart  = "Undo saml configure: restart the CM server"
	titleRollbackVerify   = "Undo saml configure: the console no longer sends anyone to the IdP; the local login works"
)

// RollbackSteps are the steps of `saml rollback`: put back what configure
// recorded, restart, verify.
func (p *Procedure) RollbackSteps() []steps.Step {
	return []steps.Step{
		&step{StepRollbackSettings, titleRollbackSettings, p.planUndo, p.applyUndo, p.verifyUndo},
		&step{StepRollbackRestart, titleRollbackRestart, p.planUndoRestart, p.applyUndoRestart, nil},
		&step{StepRollbackVerify, titleRollbackVerify, noPlan, nil, p.verifyLocalLogin},
	}
}

// NewRollbackSteps returns the steps of `saml rollback` in order.
func NewRollbackSteps(d Deps) []steps.Step { return New(d).RollbackSteps() }

// rollbackPlan is what the undo writes.
type rollbackPlan struct {
	record   *state
	settings map[string]string // API name -> value ("" = default)
	deletes  []stateMapping
	restores []stateMapping
	// samlBefore: External Authentication Type was SAML before configure.
	samlBefore bool
}

func (p *Procedure) planUndo(ctx context.Context, env *steps.Env) (steps.Change, error) {
	var ch steps.Change
	path := p.statePath(env.Answers)
	rec, err := readState(path)
	if err != nil {
		return ch, inputErr(StepRollbackSettings, err, "the rollback record is damaged: restore it from its backup, or set the settings back under Administration > Settings")
	}
	if rec == nil {
		return ch, inputErr(StepRollbackSettings, fmt.Errorf("no record of a saml configure at %s", path),
			"run saml rollback with the answers file given to saml configure (the record is kept next to it); nothing was changed")
	}
	items, err := p.deps.API.Config(ctx)
	if err != nil {
		return ch, credentialsErr(StepRollbackSettings, "read the CM settings", err)
	}
	up := &rollbackPlan{record: rec, settings: map[string]string{}}
	for _, s := range rec.Settings {
		it, ok := cmapi.FindByName(items, s.Name)
		if !ok {
			it, ok = cmapi.FindByDisplayName(items, s.DisplayName)
		}
		if !ok {
			return ch, &Error{Step: StepRollbackSettings, Err: fmt.Errorf("CM has no setting %q any more", s.DisplayName)}
		}
		if s.DisplayName == "External Authentication Type" && strings.EqualFold(s.Old, "SAML") {
			up.samlBefore = true
		}
		switch {
		case s.Sensitive && s.OldSet:
			ch.Notes = append(ch.Notes, s.DisplayName+": its earlier value was never readable (CM redacts it) and stays as configure set it")
			continue
		case s.Sensitive:
			if it.Value == "" {
				continue
			}
			up.settings[it.Name] = ""
			ch.Add(steps.Item{Kind: steps.KindSetting, Target: s.DisplayName, Old: "[redacted]", New: "(default)"})
		case it.Value != s.Old:
			up.settings[it.Name] = s.Old
			ch.Add(steps.Item{Kind: steps.KindSetting, Target: s.DisplayName, Old: cmp.Or(it.Value, it.Default), New: cmp.Or(s.Old, "(default)")})
		}
	}
	if len(rec.Created)+len(rec.Updated) > 0 {
		have, err := p.deps.API.ExternalUserMappings(ctx)
		if err != nil {
			return ch, credentialsErr(StepRollbackSettings, "read CM's external user mappings", err)
		}
		byUUID := func(uuid string) (ExternalUserMapping, bool) {
			i := slices.IndexFunc(have, func(m ExternalUserMapping) bool { return m.UUID == uuid })
			if i < 0 {
				return ExternalUserMapping{}, false
			}
			return have[i], true
		}
		for _, m := range rec.Created {
			if cur, ok := byUUID(m.UUID); ok {
				up.deletes = append(up.deletes, m)
				ch.Add(steps.Item{Kind: steps.KindSetting, Target: mappingTarget(cur), Old: strings.Join(roleNames(cur.AuthRoles), ","), New: "(removed)"})
			}
		}
		for _, m := range rec.Updated {
			cur, ok := byUUID(m.UUID)
			if !ok {
				ch.Notes = append(ch.Notes, fmt.Sprintf("external user mapping %s %q is gone; not recreated", m.Type, m.Name))
				continue
			}
			old := slices.Sorted(slices.Values(m.OldRoles))
			now := slices.Sorted(slices.Values(roleNames(cur.AuthRoles)))
			if !slices.Equal(old, now) {
				up.restores = append(up.restores, m)
				ch.Add(steps.Item{Kind: steps.KindSetting, Target: mappingTarget(cur), Old: strings.Join(now, ","), New: strings.Join(old, ",")})
			}
		}
	}
	p.mu.Lock()
	p.undo = up
	p.restart = len(up.settings) > 0
	p.mu.Unlock()
	return ch, nil
}

func (p *Procedure) applyUndo(ctx context.Context, _ *steps.Env) error {
	p.mu.Lock()
	up := p.undo
	p.mu.Unlock()
	if len(up.settings) > 0 {
		if err := p.deps.API.SetConfig(ctx, up.settings); err != nil {
			return &Error{Step: StepRollbackSettings, Err: fmt.Errorf("write the settings back: %w", err)}
		}
	}
	for _, m := range up.deletes {
		if err := p.deps.API.DeleteExternalUserMapping(ctx, m.UUID); err != nil && !isNotFound(err) {
			return &Error{Step: StepRollbackSettings, Err: fmt.Errorf("remove external user mapping %s %q: %w", m.Type, m.Name, err)}
		}
	}
	for _, m := range up.restores {
		em := ExternalUserMapping{Name: m.Name, Type: m.Type, UUID: m.UUID}
		for _, r := range m.OldRoles {
			em.AuthRoles = append(em.AuthRoles, AuthRoleRef{Name: r})
		}
		if err := p.deps.API.UpdateExternalUserMapping(ctx, em); err != nil {
			return &Error{Step: StepRollbackSettings, Err: fmt.Errorf("restore external user mapping %s %q: %w", m.Type, m.Name, err)}
		}
	}
	return nil
}

// verifyUndo reads back: every recorded plain setting holds its old value
// and no mapping configure created is left.
func (p *Procedure) verifyUndo(ctx context.Context, env *steps.Env) error {
	p.mu.Lock()
	up := p.undo
	p.mu.Unlock()
	items, err := p.deps.API.Config(ctx)
	if err != nil {
		return &Error{Step: StepRollbackSettings, Err: fmt.Errorf("read the CM settings back: %w", err)}
	}
	var bad []string
	for _, s := range up.record.Settings {
		if s.Sensitive {
			continue
		}
		if it, ok := cmapi.FindByName(items, s.Name); ok && it.Value != s.Old {
			bad = append(bad, fmt.Sprintf("%s is %q, not %q", s.DisplayName, it.Value, s.Old))
		}
	}
	if len(up.deletes)+len(up.restores) > 0 {
		have, err := p.deps.API.ExternalUserMappings(ctx)
		if err != nil {
			return &Error{Step: StepRollbackSettings, Err: fmt.Errorf("read the external user mappings back: %w", err)}
		}
		for _, m := range up.deletes {
			if slices.ContainsFunc(have, func(h ExternalUserMapping) bool { return h.UUID == m.UUID }) {
				bad = append(bad, fmt.Sprintf("external user mapping %s %q is still there", m.Type, m.Name))
			}
		}
		for _, m := range up.restores {
			i := slices.IndexFunc(have, func(h ExternalUserMapping) bool { return h.UUID == m.UUID })
			if i < 0 || !slices.Equal(slices.Sorted(slices.Values(roleNames(have[i].AuthRoles))), slices.Sorted(slices.Values(m.OldRoles))) {
				bad = append(bad, fmt.Sprintf("external user mapping %s %q does not have its roles %s back", m.Type, m.Name, strings.Join(m.OldRoles, ",")))
			}
		}
	}
	if len(bad) > 0 {
		return &Error{Step: StepRollbackSettings, Err: errors.New(strings.Join(bad, "; "))}
	}
	progress(env, StepRollbackSettings, fmt.Sprintf("%d setting(s) and %d mapping(s) as before saml configure", len(up.record.Settings), len(up.record.Created)+len(up.record.Updated)))
	return nil
}

func (p *Procedure) planUndoRestart(ctx context.Context, env *steps.Env) (steps.Change, error) {
	return p.planRestart(ctx, env)
}

// applyUndoRestart restarts CM and waits until its console answers.
func (p *Procedure) applyUndoRestart(ctx context.Context, env *steps.Env) error {
	if err := p.restartServer(ctx, env, StepRollbackRestart, func(s int) bool { return s < 500 }, apiOrigin(env.Answers)+"/"); err != nil {
		return err
	}
	p.Result.Restarted = true
	return nil
}

// verifyLocalLogin proves the way back: GET / on the console no longer
// leads to the IdP, and CM's own login form lets server.api.user in.
func (p *Procedure) verifyLocalLogin(ctx context.Context, env *steps.Env) error {
	base := apiOrigin(env.Answers)
	p.mu.Lock()
	samlBefore := p.undo != nil && p.undo.samlBefore
	p.mu.Unlock()
	if samlBefore {
		report(env, steps.Event{Step: StepRollbackVerify, Phase: steps.PhaseVerify, Status: steps.StatusWarn,
			Detail: "CM used SAML before saml configure, and still does"})
	} else {
		to, err := p.leadsToIdP(ctx, env, base)
		if err != nil {
			return err
		}
		if to != "" {
			return &Error{Step: StepRollbackVerify, Err: fmt.Errorf("GET %s/ still leads to %s", base, to),
				Fix: "CM still runs with SAML: check External Authentication Type and that the server restarted"}
		}
		progress(env, StepRollbackVerify, "GET / on the console no longer leads to the IdP")
	}
	return p.localLogin(ctx, env, base)
}

// leadsToIdP follows the console's redirects from GET / (at most 10) and
// returns the first that leaves the console or goes to the IdP or the
// SP's login, "" when none does.
func (p *Procedure) leadsToIdP(ctx context.Context, env *steps.Env, base string) (string, error) {
	var idpHost string
	if b, err := os.ReadFile(env.Answers.ExpandPath(env.Answers.SAML.IdPMetadata)); err == nil {
		if idp, err := parseIdPMetadata(b); err == nil {
			if u, err := url.Parse(cmp.Or(idp.SSORedirect, idp.SSOPost)); err == nil {
				idpHost = u.Host
			}
		}
	}
	c := p.httpClient()
	next := base + "/"
	for range 10 {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, next, nil)
		resp, err := c.Do(req)
		if err != nil {
			return "", &Error{Step: StepRollbackVerify, Err: err}
		}
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		if resp.StatusCode < 300 || resp.StatusCode > 399 || loc == "" {
			return "", nil
		}
		u, err := req.URL.Parse(loc)
		if err != nil {
			return "", &Error{Step: StepRollbackVerify, Err: err}
		}
		// With local logins CM's console sends a browser only to its own
		// login page: anywhere else (the IdP, an AuthnRequest, the SP's
		// login) is SAML still at work.
		if (idpHost != "" && strings.EqualFold(u.Host, idpHost)) || strings.HasPrefix(u.Path, "/saml/") ||
			u.Query().Has("SAMLRequest") || !sameOrigin(u, base) {
			return u.Redacted(), nil
		}
		next = u.String()
	}
	return "", &Error{Step: StepRollbackVerify, Err: fmt.Errorf("GET %s/ redirects more than 10 times", base)}
}

// localLogin posts server.api.user's credentials to CM's login form
// (Spring Security's /j_spring_security_check, which CM's form uses) and
// proves the session: the home page answers without sending the browser
// back to a login, and, where CM lists sessions, it has a new one for the
// user.
func (p *Procedure) localLogin(ctx context.Context, env *steps.Env, base string) error {
	api := env.Answers.Server.API
	before, sessErr := p.deps.API.Sessions(ctx)
	if sessErr != nil && !isNotFound(sessErr) {
		return &Error{Step: StepRollbackVerify, Err: fmt.Errorf("ask CM for its sessions: %w", sessErr)}
	}
	c := p.httpClient()
	jar, _ := cookiejar.New(nil)
	c.Jar = jar
	form := url.Values{"j_username": {api.User}, "j_password": {string(api.Password.Value())}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/j_spring_security_check", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.Do(req)
	if err != nil {
		return &Error{Step: StepRollbackVerify, Err: fmt.Errorf("local login: %w", err)}
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode/100 != 3 || strings.Contains(loc, "error") || strings.Contains(loc, "/saml/") {
		return &Error{Step: StepRollbackVerify, Err: fmt.Errorf("local login as %s: %s to %q", api.User, resp.Status, loc),
			Fix: "check server.api.user and server.api.password; CM's log says why a login fails"}
	}
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, base+"/cmf/home", nil)
	resp, err = c.Do(req)
	if err != nil {
		return &Error{Step: StepRollbackVerify, Err: fmt.Errorf("local login: %w", err)}
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return &Error{Step: StepRollbackVerify, Err: fmt.Errorf("after the local login as %s, /cmf/home answered %s (to %q)", api.User, resp.Status, resp.Header.Get("Location"))}
	}
	if sessErr == nil {
		after, err := p.deps.API.Sessions(ctx)
		if err != nil {
			return &Error{Step: StepRollbackVerify, Err: fmt.Errorf("ask CM for its sessions: %w", err)}
		}
		if !newSession(before, after, api.User) {
			return &Error{Step: StepRollbackVerify, Err: fmt.Errorf("CM lists no new session for %s after the local login", api.User)}
		}
		progress(env, StepRollbackVerify, "the local login as "+api.User+" works; CM lists its session")
		return nil
	}
	progress(env, StepRollbackVerify, "the local login as "+api.User+" works (this CM does not list sessions)")
	return nil
}
