package sshd

import (
	"path/filepath"
	"testing"
)

func TestParseConfig(t *testing.T) {
	t.Parallel()
	c, err := ParseConfig([]byte("user: ops\nauthorized_keys: ../id.pub\nhosts:\n  - {name: agent1, port: 0, host_key: k1, dir: /h/agent1}\n"), "/s/sshd/sshd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.AuthorizedKeys != "/s/id.pub" || c.Hosts[0].HostKey != "/s/sshd/k1" || c.Pid != "/s/sshd/sshd.pid" || c.Bind != "127.0.0.1" {
		t.Fatalf("config = %+v", c)
	}
	for _, bad := range []string{
		"hosts: []\n",
		"authorized_keys: a\nhosts:\n  - {name: a, host_key: k}\n  - {name: a, host_key: k}\n",
		"authorized_keys: a\nhosts:\n  - {name: a}\n",
		"authorized_keys: a\nhosts:\n  - {name: a, host_key: k, port: 70000}\n",
		"authorized_keys: a\nextra: 1\n",
	} {
		if _, err := ParseConfig([]byte(bad), "/s/sshd.yaml"); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("authorized_keys: k.pub\nhosts:\n  - {name: agent1, port: 2222, host_key: hk, dir: d}\n"))
	f.Add([]byte("authorized_keys: k\nhosts: [{name: ''}]\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseConfig(b, "/s/sshd.yaml")
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, h := range c.Hosts {
			if h.Name == "" || seen[h.Name] || !filepath.IsAbs(h.HostKey) || h.Port < 0 || h.Port > 65535 {
				t.Fatalf("bad host accepted: %+v", h)
			}
			seen[h.Name] = true
		}
	})
}
