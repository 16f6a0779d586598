package saml

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"

	"github.com/cmtls/cmtls/remote/localfile"
	"github.com/cmtls/cmtls/steps"
)

// state is what `saml configure` replaced on CM, kept next to the answers
// file for `saml rollback`: each setting's value before the first
// configure that changed it, the mappings it created, and the roles of
// mappings it changed. It holds no secret: a sensitive setting's old
// value is recorded only as set or unset.
type state struct {
	Version  int            `json:"version"`
	Settings []stateSetting `json:"settings,omitempty"`
	Created  []stateMapping `json:"createdMappings,omitempty"`
	Updated  []stateMapping `json:"updatedMappings,omitempty"`
}

type stateSetting struct {
	Name        string `json:"name"`
	DisplayName string `json:"displayName"`
	// Old is the value CM stored ("" = its default).
	Old       string `json:"old"`
	Sensitive bool   `json:"sensitive,omitempty"`
	// OldSet says a sensitive setting had a value (not recorded).
	OldSet bool `json:"oldSet,omitempty"`
}

type stateMapping struct {
	UUID     string   `json:"uuid"`
	Type     string   `json:"type"`
	Name     string   `json:"name"`
	OldRoles []string `json:"oldRoles,omitempty"`
}

// The first value recorded for a setting or mapping wins: a later
// configure must not make its predecessor's values "the old ones".
func (s *state) addSettings(cs []Setting) {
	for _, c := range cs {
		if slices.ContainsFunc(s.Settings, func(x stateSetting) bool { return x.Name == c.Name }) {
			continue
		}
		ss := stateSetting{Name: c.Name, DisplayName: c.DisplayName, Sensitive: c.Sensitive}
		if c.Sensitive {
			ss.OldSet = c.was != ""
		} else {
			ss.Old = c.was
		}
		s.Settings = append(s.Settings, ss)
	}
}

func (s *state) addCreated(m ExternalUserMapping) {
	s.Created = append(s.Created, stateMapping{UUID: m.UUID, Type: m.Type, Name: m.Name})
}

func (s *state) addUpdated(uuid string, m ExternalUserMapping, old []string) {
	if slices.ContainsFunc(s.Updated, func(x stateMapping) bool { return x.UUID == uuid }) ||
		slices.ContainsFunc(s.Created, func(x stateMapping) bool { return x.UUID == uuid }) {
		return
	}
	s.Updated = append(s.Updated, stateMapping{UUID: uuid, Type: m.Type, Name: m.Name, OldRoles: old})
}

// readState reads the record; a missing file is (nil, nil).
func readState(path string) (*state, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var s state
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if s.Version != 1 {
		return nil, fmt.Errorf("%s: unknown version %d", path, s.Version)
	}
	return &s, nil
}

// record updates the record on disk (atomically) with edit.
func (p *Procedure) record(env *steps.Env, edit func(*state)) error {
	path := p.statePath(env.Answers)
	p.mu.Lock()
	defer p.mu.Unlock()
	s, err := readState(path)
	if err != nil {
		return &Error{Step: StepSettings, Err: fmt.Errorf("read the rollback record: %w", err), Fix: "move the damaged file away; configure starts a new record"}
	}
	if s == nil {
		s = &state{Version: 1}
	}
	edit(s)
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := localfile.Write(path, append(b, '\n'), 0o600); err != nil {
		return &Error{Step: StepSettings, Err: fmt.Errorf("write the rollback record: %w", err), Fix: "make the answers file's directory writable"}
	}
	p.Result.StateFile = path
	return nil
}
