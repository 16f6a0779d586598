package steps

import (
	"fmt"

	"gopkg.in/ini.v1"
)

// AgentINI is what the steps read from an agent's config.ini. Editing is
// package agentcfg's job; this only reads (with ini.v1, as the agent's
// Python ConfigParser would).
type AgentINI struct {
	ServerHost     string // [General] server_host, exactly as written
	ServerPort     string // [General] server_port
	UseTLS         string // [Security] use_tls
	VerifyCertFile string // [Security] verify_cert_file ("" when unset or commented)
	VerifyCertDir  string // [Security] verify_cert_dir
	LibDir         string // [General] lib_dir ("" when unset: /var/lib/cloudera-scm-agent)
}

// parseAgentINI reads the keys the TLS procedure cares about.
func parseAgentINI(data []byte) (*AgentINI, error) {
	f, err := ini.LoadSources(ini.LoadOptions{IgnoreInlineComment: true, AllowBooleanKeys: true, SkipUnrecognizableLines: true}, data)
	if err != nil {
		return nil, fmt.Errorf("parse config.ini: %w", err)
	}
	g, s := f.Section("General"), f.Section("Security")
	a := &AgentINI{
		ServerHost:     g.Key("server_host").String(),
		ServerPort:     g.Key("server_port").String(),
		UseTLS:         s.Key("use_tls").String(),
		VerifyCertFile: s.Key("verify_cert_file").String(),
		VerifyCertDir:  s.Key("verify_cert_dir").String(),
		LibDir:         g.Key("lib_dir").String(),
	}
	if a.ServerPort == "" {
		a.ServerPort = "7182"
	}
	return a, nil
}

// tlsVerified reports whether the file asks for level 2: TLS on and a CA
// file or directory to verify the server with.
func (a *AgentINI) tlsVerified() bool {
	return a != nil && a.UseTLS == "1" && (a.VerifyCertFile != "" || a.VerifyCertDir != "")
}
