package cmserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"time"
	"unicode/utf8"
)

// HeartbeatPath is where agents POST their heartbeat on the agent port.
// The real agent speaks Avro IPC; the body here is our own JSON (notes
// section 6.3), carried the same way: POST over the same port.
const HeartbeatPath = "/heartbeat"

// Heartbeat is what an agent sends.
type Heartbeat struct {
	HostID       string `json:"hostId"`
	Hostname     string `json:"hostname"`
	IPAddress    string `json:"ipAddress,omitempty"`
	AgentVersion string `json:"agentVersion,omitempty"`
	// CMGUID is the server GUID the agent saw last (empty on first contact).
	CMGUID string   `json:"cmGuid,omitempty"`
	TLS    TLSState `json:"tls"`
}

// TLSState is the agent's view of its connection.
type TLSState struct {
	Enabled  bool `json:"enabled"`  // use_tls=1
	Verified bool `json:"verified"` // verify_cert_file/dir set and checks passed
}

// HeartbeatResponse is the server's answer.
type HeartbeatResponse struct {
	ServerGUID string `json:"serverGuid"`
	// IntervalSeconds is "Send Agent Heartbeat Every"; agents without an
	// explicit interval follow it, as real agents do.
	IntervalSeconds int `json:"heartbeatInterval"`
}

// maxHeartbeatBody bounds a heartbeat body.
const maxHeartbeatBody = 8 << 10

// ParseHeartbeat decodes and checks a heartbeat body.
func ParseHeartbeat(b []byte) (Heartbeat, error) {
	var hb Heartbeat
	if len(b) > maxHeartbeatBody {
		return hb, fmt.Errorf("heartbeat body larger than %d bytes", maxHeartbeatBody)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&hb); err != nil {
		return Heartbeat{}, fmt.Errorf("heartbeat: %w", err)
	}
	if dec.More() {
		return Heartbeat{}, fmt.Errorf("heartbeat: trailing data")
	}
	if err := checkField("hostId", hb.HostID, 128, true); err != nil {
		return Heartbeat{}, err
	}
	if err := checkField("hostname", hb.Hostname, 253, true); err != nil {
		return Heartbeat{}, err
	}
	if strings.ContainsAny(hb.Hostname, " /\\") {
		return Heartbeat{}, fmt.Errorf("heartbeat: hostname %q is not a host name", hb.Hostname)
	}
	if hb.IPAddress != "" && net.ParseIP(hb.IPAddress) == nil {
		return Heartbeat{}, fmt.Errorf("heartbeat: ipAddress %q is not an IP address", hb.IPAddress)
	}
	if err := checkField("agentVersion", hb.AgentVersion, 64, false); err != nil {
		return Heartbeat{}, err
	}
	if err := checkField("cmGuid", hb.CMGUID, 64, false); err != nil {
		return Heartbeat{}, err
	}
	return hb, nil
}

func checkField(name, v string, max int, required bool) error {
	switch {
	case required && v == "":
		return fmt.Errorf("heartbeat: %s is required", name)
	case len(v) > max:
		return fmt.Errorf("heartbeat: %s longer than %d bytes", name, max)
	case !utf8.ValidString(v):
		return fmt.Errorf("heartbeat: %s is not UTF-8", name)
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("heartbeat: %s has control characters", name)
		}
	}
	return nil
}

// Health values of ApiHost.healthSummary.
const (
	HealthGood       = "GOOD"
	HealthConcerning = "CONCERNING"
	HealthBad        = "BAD"
)

// HealthRule is CM's host heartbeat health test: a host is CONCERNING
// once Concerning intervals have passed without a heartbeat and BAD after
// Bad intervals (CM settings "Set health status to Concerning/Bad if the
// Agent heartbeats fail", counted in "Send Agent Heartbeat Every").
type HealthRule struct {
	Interval   time.Duration
	Concerning int
	Bad        int
}

// ruleFrom reads the rule from the settings.
func ruleFrom(s Settings) HealthRule {
	return HealthRule{
		Interval:   time.Duration(s.Int(HeartbeatInterval, 15)) * time.Second,
		Concerning: s.Int(MissedHBConcern, 5),
		Bad:        s.Int(MissedHBBad, 10),
	}
}

// Health returns the summary for a host last heard at last.
func (r HealthRule) Health(now, last time.Time) string {
	since := now.Sub(last)
	switch {
	case since > time.Duration(r.Bad)*r.Interval:
		return HealthBad
	case since > time.Duration(r.Concerning)*r.Interval:
		return HealthConcerning
	}
	return HealthGood
}
