package steps

import (
	"context"
	"fmt"
	"strings"

	"github.com/cmtls/cmtls/remote/cmapi"
)

// CM setting names of the TLS procedure, as the Cloudera Manager REST API
// names them (ApiConfig items of GET /cm/config).
const (
	settingAgentTLS         = "AGENT_TLS"
	settingWebTLS           = "WEB_TLS"
	settingKeystorePath     = "KEYSTORE_PATH"
	settingKeystorePassword = "KEYSTORE_PASSWORD"
)

// EnableAgentTLS is Step 1: TLS encryption (level 1). The server side is
// three settings through the API (keystore path and password, "Use TLS
// Encryption for Agents"); the agents' use_tls=1 is written with Step 3 by
// the same edit of config.ini.
type EnableAgentTLS struct{}

func (EnableAgentTLS) Name() string { return "enable-agent-tls" }
func (EnableAgentTLS) Title() string {
	return "Step 1: TLS encryption for agents (level 1)"
}

// wantSettings returns the settings Step 1 wants that differ from cfg.
func (s EnableAgentTLS) wantSettings(env *Env, cfg []cmapi.ConfigItem) (map[string]string, []Item) {
	ks := env.Answers.Server.Keystore
	set := map[string]string{}
	var items []Item
	get := func(name string) string {
		it, _ := cmapi.FindByName(cfg, name)
		return it.Value
	}
	agentTLS := isTrue(get(settingAgentTLS))
	path := get(settingKeystorePath)
	if path != ks.Path {
		set[settingKeystorePath] = ks.Path
		items = append(items, Item{Kind: KindSetting, Target: settingKeystorePath, Old: path, New: ks.Path})
	}
	// CM answers REDACTED for a sensitive value, so a password that is set
	// cannot be compared: it is (re)written whenever the path or the TLS
	// switch changes, or when it is empty, or when the server shows it and
	// it differs.
	pw := get(settingKeystorePassword)
	if pw == "" || path != ks.Path || !agentTLS || (pw != "REDACTED" && pw != string(ks.Password.Value())) {
		set[settingKeystorePassword] = string(ks.Password.Value())
		old := "[redacted]"
		if pw == "" {
			old = ""
		}
		items = append(items, Item{Kind: KindSetting, Target: settingKeystorePassword, Old: old, New: "[redacted]", Note: ks.Password.Source()})
	}
	if !agentTLS {
		set[settingAgentTLS] = "true"
		items = append(items, Item{Kind: KindSetting, Target: settingAgentTLS, Old: orFalse(get(settingAgentTLS)), New: "true", Note: "Use TLS Encryption for Agents"})
	}
	return set, items
}

func (s EnableAgentTLS) Plan(ctx context.Context, env *Env) (Change, error) {
	var ch Change
	cfg, err := env.settings()
	if err != nil {
		return ch, err
	}
	if !env.agentEncryption() {
		it, _ := cmapi.FindByName(cfg, settingAgentTLS)
		if !isTrue(it.Value) {
			return ch, inputErrorf("set tls.agent_encryption: true, or turn on \"Use TLS Encryption for Agents\" first",
				"TLS encryption (level 1) is off on the server and tls.agent_encryption is false: level 2 needs it (Step 1)")
		}
		ch.Notes = append(ch.Notes, "tls.agent_encryption is false and AGENT_TLS is already on: left as it is")
		return ch, nil
	}
	if err := env.refuseAutoTLS(ctx, cfg); err != nil {
		return ch, err
	}
	_, items := s.wantSettings(env, cfg)
	ch.Items = items
	if len(items) > 0 {
		env.Planned().ReloadServer(s.Name())
	}
	return ch, nil
}

func (s EnableAgentTLS) Apply(ctx context.Context, env *Env) error {
	cfg, err := env.API.Config(ctx)
	if err != nil {
		return fmt.Errorf("read CM settings: %w", err)
	}
	set, _ := s.wantSettings(env, cfg)
	if len(set) == 0 {
		return nil
	}
	if c := env.Planned().ServerCert(); c == nil || c.Keystore == nil {
		// The keystore stays as it is in this run: the server must be
		// able to read it before AGENT_TLS makes it load it (Step 4
		// checks a keystore Step 2 writes).
		if err := env.checkKeystoreAccess(ctx, s.Name(), "nothing was turned on"); err != nil {
			return err
		}
	}
	if err := env.API.SetConfig(ctx, set); err != nil {
		return fmt.Errorf("set %s: %w", strings.Join(sortedKeys(set), ", "), err)
	}
	env.Done().ServerChanged()
	return nil
}

func (s EnableAgentTLS) Verify(ctx context.Context, env *Env) error {
	cfg, err := env.API.Config(ctx)
	if err != nil {
		return fmt.Errorf("read CM settings: %w", err)
	}
	if it, _ := cmapi.FindByName(cfg, settingAgentTLS); !isTrue(it.Value) {
		return fmt.Errorf("AGENT_TLS is %q after setting it", it.Value)
	}
	if env.agentEncryption() {
		if it, _ := cmapi.FindByName(cfg, settingKeystorePath); it.Value != env.Answers.Server.Keystore.Path {
			return fmt.Errorf("KEYSTORE_PATH is %q, want %q", it.Value, env.Answers.Server.Keystore.Path)
		}
	}
	return nil
}

// settings returns the CM settings as the runner read them.
func (e *Env) settings() ([]cmapi.ConfigItem, error) {
	f := e.Facts()
	if f.SettingsErr != nil {
		return nil, fmt.Errorf("read CM settings: %w", f.SettingsErr)
	}
	return f.Settings, nil
}

func (e *Env) agentEncryption() bool {
	t := e.Answers.TLS
	return t == nil || t.AgentEncryption == nil || *t.AgentEncryption
}

func isTrue(v string) bool { return strings.EqualFold(strings.TrimSpace(v), "true") }

func orFalse(v string) string {
	if v == "" {
		return "false"
	}
	return v
}
