package cmapi

import (
	"encoding/json"
	"testing"
)

// FuzzParseCommand: any answer gives a command or an error, never a panic;
// a command that parsed round-trips its id and activity.
func FuzzParseCommand(f *testing.F) {
	f.Add([]byte(`{"id":12,"name":"Restart","active":true}`))
	f.Add([]byte(`{"id":12,"name":"Restart","active":false,"success":false,"resultMessage":"Host Monitor is down."}`))
	f.Add([]byte(`{"id":-1,"active":true}`))
	f.Add([]byte(`{"id":1e40}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		cmd, err := ParseCommand(b)
		if err != nil {
			return
		}
		if cmd.Active && cmd.ID < 0 {
			t.Fatalf("active command with negative id %d", cmd.ID)
		}
		again, err := json.Marshal(cmd)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseCommand(again)
		if err != nil || back.ID != cmd.ID || back.Active != cmd.Active || back.ResultMessage != cmd.ResultMessage {
			t.Fatalf("round trip %+v -> %+v, %v", cmd, back, err)
		}
	})
}

// FuzzParseHosts: any answer gives hosts or an error, never a panic; a
// host's heartbeat time is either zero (absent) or parsed.
func FuzzParseHosts(f *testing.F) {
	f.Add([]byte(`{"items":[{"hostId":"6f7c","hostname":"agent1.example.com","ipAddress":"10.0.0.11","lastHeartbeat":"2017-10-05T15:35:22.774Z","healthSummary":"GOOD"}]}`))
	f.Add([]byte(`{"items":[{"hostId":"a","lastHeartbeat":"yesterday"}]}`))
	f.Add([]byte(`{"items":null}`))
	f.Add([]byte(`{"items":[{}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		hosts, err := ParseHosts(b)
		if err != nil {
			if hosts != nil {
				t.Fatal("hosts with an error")
			}
			return
		}
		var raw struct {
			Items []json.RawMessage `json:"items"`
		}
		if json.Unmarshal(b, &raw) == nil && len(raw.Items) != len(hosts) {
			t.Fatalf("%d items, %d hosts", len(raw.Items), len(hosts))
		}
	})
}
