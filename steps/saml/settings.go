package saml

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/cmtls/cmtls/remote/cmapi"
	"github.com/cmtls/cmtls/steps"
)

// Role models: how a CM release maps SAML users to its roles.
const (
	// ModelSettings is the CM 4.8/5 model: the settings "SAML Attribute
	// Values for ROLE_ADMIN/ROLE_USER".
	ModelSettings = "settings"
	// ModelMappings is the CM 6/7 model: external user mappings of type
	// SAML_ATTRIBUTE (name = attribute value) or SAML_SCRIPT (name = the
	// script's exit code), each granting auth roles.
	ModelMappings = "externalUserMappings"
)

// Setting is one CM setting the run writes, by display name.
type Setting struct {
	DisplayName string `json:"displayName"`
	Name        string `json:"name"`
	Old         string `json:"old,omitempty"`
	New         string `json:"new"`
	Sensitive   bool   `json:"sensitive,omitempty"`
	// was is the value as CM stored it ("" when at its default), what a
	// rollback writes back.
	was string
}

// redacted is a Setting as it may be shown: a sensitive one's values
// (the keystore password it will write) are replaced.
func (s Setting) redacted() Setting {
	if s.Sensitive {
		s.Old, s.New, s.was = redact(s.Old), "[redacted]", redact(s.was)
	}
	return s
}

// MarshalJSON keeps a sensitive setting's values out of --json output.
func (s Setting) MarshalJSON() ([]byte, error) {
	type plain Setting // without the method, so no recursion
	return json.Marshal(plain(s.redacted()))
}

// Format keeps a sensitive setting's values out of anything printed with
// fmt (errors, logs) whatever the verb.
func (s Setting) Format(f fmt.State, verb rune) {
	type plain Setting
	r := plain(s.redacted())
	if f.Flag('+') {
		fmt.Fprintf(f, "%+v", r)
		return
	}
	fmt.Fprintf(f, "%v", r)
}

func redact(v string) string {
	if v == "" {
		return ""
	}
	return "[redacted]"
}

// detectModel asks CM which role model it has: a CM that answers
// /externalUserMappings maps roles with them (CM 6/7); one that answers
// 404 keeps the role-value settings (CM 5). It is asked once per run.
func (p *Procedure) detectModel(ctx context.Context, step string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.model != "" {
		return p.model, nil
	}
	ms, err := p.deps.API.ExternalUserMappings(ctx)
	switch {
	case isNotFound(err):
		p.model = ModelSettings
	case err != nil:
		return "", credentialsErr(step, "read CM's external user mappings", err)
	default:
		p.model, p.mappings = ModelMappings, ms
	}
	p.Result.RoleModel = p.model
	return p.model, nil
}

// planSettings reads the current settings and says which ones change.
// Settings are found by display name (CM does not publish the API names
// of the SAML settings).
func (p *Procedure) planSettings(ctx context.Context, env *steps.Env) (steps.Change, error) {
	var ch steps.Change
	model, err := p.detectModel(ctx, StepSettings)
	if err != nil {
		return ch, err
	}
	want, _ := wanted(env.Answers, model == ModelSettings)
	items, err := p.deps.API.Config(ctx)
	if err != nil {
		return ch, credentialsErr(StepSettings, "read the CM settings", err)
	}
	// CM never returns sensitive values (it answers REDACTED). They count
	// as in place when the running SP publishes the certificate of our
	// keystore entry: it opened the same keystore with a password that works.
	keyInUse := p.servedCertMatches(ctx, env)
	var changes []Setting
	for _, w := range want {
		it, ok := cmapi.FindByDisplayName(items, w.DisplayName)
		if !ok {
			return ch, &Error{Step: StepSettings, Err: fmt.Errorf("CM has no setting %q", w.DisplayName),
				Fix: "this CM version may name it differently; check Administration > Settings > External Authentication"}
		}
		w.Name, w.was = it.Name, it.Value
		w.Old = cmp.Or(it.Value, it.Default)
		if w.Old == w.New {
			continue
		}
		if (w.Sensitive || it.Sensitive) && it.Value != "" && keyInUse {
			continue
		}
		w.Sensitive = w.Sensitive || it.Sensitive
		changes = append(changes, w)
		old, nw := w.Old, w.New
		if w.Sensitive {
			old, nw = redact(old), "[redacted]"
		}
		ch.Add(steps.Item{Kind: steps.KindSetting, Target: w.DisplayName, Old: old, New: nw})
	}
	if model == ModelMappings {
		ch.Notes = append(ch.Notes, "this CM maps roles with external user mappings (saml-roles), not the SAML Attribute Values settings")
	}
	p.mu.Lock()
	p.settings = changes
	p.restart = len(changes) > 0
	p.mu.Unlock()
	return ch, nil
}

// servedCertMatches reports whether CM's /saml/metadata publishes the
// certificate of the answers' keystore entry.
func (p *Procedure) servedCertMatches(ctx context.Context, env *steps.Env) bool {
	_, m := wanted(env.Answers, true)
	cfg, err := spConfig(m, cmp.Or(m[keyEntityBaseURL], consoleBase(env.Answers)))
	if err != nil {
		return false
	}
	body, err := get(ctx, p.httpClient(), consoleBase(env.Answers)+pathMetadata)
	if err != nil {
		return false
	}
	md, err := parseSPMetadata(body)
	if err != nil {
		return false
	}
	for _, c := range md.Certs {
		if c.Equal(cfg.Certificate) {
			return true
		}
	}
	return false
}

// applySettings records the values it replaces (for `saml rollback`),
// then writes the new ones in one PUT.
func (p *Procedure) applySettings(ctx context.Context, env *steps.Env) error {
	p.mu.Lock()
	changes := p.settings
	p.mu.Unlock()
	if err := p.record(env, func(s *state) { s.addSettings(changes) }); err != nil {
		return err
	}
	m := map[string]string{}
	for _, c := range changes {
		m[c.Name] = c.New
	}
	if err := p.deps.API.SetConfig(ctx, m); err != nil {
		return &Error{Step: StepSettings, Err: fmt.Errorf("write the SAML settings: %w", err), Fix: "CM validates SAML settings on save: read the message above"}
	}
	return nil
}

// verifySettings reads the settings back: every plain one holds the
// value written (sensitive ones read back REDACTED and are proven by the
// restarted SP opening the keystore).
func (p *Procedure) verifySettings(ctx context.Context, env *steps.Env) error {
	model, err := p.detectModel(ctx, StepSettings)
	if err != nil {
		return err
	}
	want, _ := wanted(env.Answers, model == ModelSettings)
	items, err := p.deps.API.Config(ctx)
	if err != nil {
		return &Error{Step: StepSettings, Err: fmt.Errorf("read the CM settings back: %w", err)}
	}
	var bad []string
	for _, w := range want {
		it, ok := cmapi.FindByDisplayName(items, w.DisplayName)
		if !ok || w.Sensitive || it.Sensitive {
			continue
		}
		if got := cmp.Or(it.Value, it.Default); got != w.New {
			bad = append(bad, fmt.Sprintf("%s is %q, not %q", w.DisplayName, got, w.New))
		}
	}
	if len(bad) > 0 {
		return &Error{Step: StepSettings, Err: fmt.Errorf("CM did not keep the settings: %s", strings.Join(bad, "; ")),
			Fix: "another administrator or tool may be changing them; re-run, or set them under Administration > Settings > External Authentication"}
	}
	progress(env, StepSettings, fmt.Sprintf("%d SAML setting(s) read back as written", len(want)))
	return nil
}
