package saml

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/cmtls/cmtls/steps"
	"github.com/cmtls/cmtls/steps/answers"
)

// mappingChange is one external user mapping the plan creates (UUID "")
// or updates (its roles).
type mappingChange struct {
	Want     ExternalUserMapping
	UUID     string   // the existing mapping's, when updated
	OldRoles []string // its roles before
}

// wantedMappings are the external user mappings the answers ask for: with
// roles from an attribute, one SAML_ATTRIBUTE mapping per value; with a
// script, SAML_SCRIPT mappings for its exit codes 0 (admin) and 1 (user),
// as "Configuring User Authentication Using SAML" defines them.
func wantedMappings(f *answers.File) []ExternalUserMapping {
	r := f.SAML.Role
	if r == nil {
		return nil
	}
	roles := map[string][]string{} // name -> roles
	var order []string
	add := func(name, role string) {
		if _, ok := roles[name]; !ok {
			order = append(order, name)
		}
		if !slices.Contains(roles[name], role) {
			roles[name] = append(roles[name], role)
		}
	}
	typ := MappingSAMLAttribute
	if strings.EqualFold(r.From, "script") {
		typ = MappingSAMLScript
		add("0", RoleAdmin)
		add("1", RoleUser)
	} else {
		for _, v := range r.AdminValues {
			add(v, RoleAdmin)
		}
		for _, v := range r.UserValues {
			add(v, RoleUser)
		}
	}
	out := make([]ExternalUserMapping, 0, len(order))
	for _, n := range order {
		m := ExternalUserMapping{Name: n, Type: typ}
		rs := roles[n]
		slices.Sort(rs)
		for _, role := range rs {
			m.AuthRoles = append(m.AuthRoles, AuthRoleRef{Name: role})
		}
		out = append(out, m)
	}
	return out
}

func findMapping(ms []ExternalUserMapping, typ, name string) (ExternalUserMapping, bool) {
	for _, m := range ms {
		if m.Type == typ && m.Name == name {
			return m, true
		}
	}
	return ExternalUserMapping{}, false
}

func sameRoles(a, b []AuthRoleRef) bool {
	x, y := roleNames(a), roleNames(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

func mappingTarget(m ExternalUserMapping) string {
	return fmt.Sprintf("external user mapping %s %q", m.Type, m.Name)
}

// planRoles: in the CM 6/7 model, which mappings are created or have
// their roles corrected (mappings cmtls did not ask for are left alone);
// in the CM 5 model the roles are settings (saml-settings).
func (p *Procedure) planRoles(ctx context.Context, env *steps.Env) (steps.Change, error) {
	var ch steps.Change
	model, err := p.detectModel(ctx, StepRoles)
	if err != nil {
		return ch, err
	}
	if model == ModelSettings {
		ch.Notes = append(ch.Notes, "this CM keeps roles in the settings SAML Attribute Values for ROLE_ADMIN/ROLE_USER (saml-settings)")
		return ch, nil
	}
	p.mu.Lock()
	have := p.mappings
	p.mu.Unlock()
	var changes []mappingChange
	for _, w := range wantedMappings(env.Answers) {
		cur, ok := findMapping(have, w.Type, w.Name)
		switch {
		case !ok:
			changes = append(changes, mappingChange{Want: w})
			ch.Add(steps.Item{Kind: steps.KindSetting, Target: mappingTarget(w), New: strings.Join(roleNames(w.AuthRoles), ",")})
		case !sameRoles(cur.AuthRoles, w.AuthRoles):
			changes = append(changes, mappingChange{Want: w, UUID: cur.UUID, OldRoles: roleNames(cur.AuthRoles)})
			ch.Add(steps.Item{Kind: steps.KindSetting, Target: mappingTarget(w), Old: strings.Join(roleNames(cur.AuthRoles), ","), New: strings.Join(roleNames(w.AuthRoles), ",")})
		}
	}
	p.mu.Lock()
	p.roles = changes
	p.mu.Unlock()
	return ch, nil
}

// applyRoles creates and updates the mappings, recording each (its uuid,
// the roles it had) before the next, so that `saml rollback` undoes
// exactly what was done even after a failure half-way.
func (p *Procedure) applyRoles(ctx context.Context, env *steps.Env) error {
	p.mu.Lock()
	changes := p.roles
	p.mu.Unlock()
	for _, c := range changes {
		if c.UUID == "" {
			ms, err := p.deps.API.CreateExternalUserMappings(ctx, []ExternalUserMapping{c.Want})
			if err == nil && (len(ms) != 1 || ms[0].UUID == "") {
				err = fmt.Errorf("CM answered %d mapping(s) with uuids %v, want the one created", len(ms), mappingUUIDs(ms))
			}
			if err != nil {
				return &Error{Step: StepRoles, Err: fmt.Errorf("create %s: %w", mappingTarget(c.Want), err),
					Fix: "the CM user needs the Full Administrator (or User Administrator) role"}
			}
			if err := p.record(env, func(s *state) { s.addCreated(ms[0]) }); err != nil {
				return err
			}
			continue
		}
		if err := p.record(env, func(s *state) { s.addUpdated(c.UUID, c.Want, c.OldRoles) }); err != nil {
			return err
		}
		up := c.Want
		up.UUID = c.UUID
		if err := p.deps.API.UpdateExternalUserMapping(ctx, up); err != nil {
			return &Error{Step: StepRoles, Err: fmt.Errorf("update %s: %w", mappingTarget(c.Want), err)}
		}
	}
	return nil
}

// verifyRoles reads the mappings back: every wanted one is there with its
// roles.
func (p *Procedure) verifyRoles(ctx context.Context, env *steps.Env) error {
	model, err := p.detectModel(ctx, StepRoles)
	if err != nil || model == ModelSettings {
		return err
	}
	have, err := p.deps.API.ExternalUserMappings(ctx)
	if err != nil {
		return &Error{Step: StepRoles, Err: fmt.Errorf("read the external user mappings back: %w", err)}
	}
	want := wantedMappings(env.Answers)
	for _, w := range want {
		cur, ok := findMapping(have, w.Type, w.Name)
		if !ok || !sameRoles(cur.AuthRoles, w.AuthRoles) {
			return &Error{Step: StepRoles, Err: fmt.Errorf("%s does not grant %s", mappingTarget(w), strings.Join(roleNames(w.AuthRoles), ",")),
				Fix: "check Administration > Users & Roles > External Mappings"}
		}
	}
	progress(env, StepRoles, fmt.Sprintf("%d external user mapping(s) grant the roles", len(want)))
	return nil
}

func mappingUUIDs(ms []ExternalUserMapping) []string {
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		out = append(out, m.UUID)
	}
	return out
}
