package inventory

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseINI(t *testing.T) {
	t.Parallel()
	src := `# cluster
cm1.example.com

[agents]
agent[01:03].example.com ansible_user=cmops
odd ansible_host=10.0.0.9 ansible_port=2222 ansible_ssh_user="old name" # comment

[agents:vars]
ansible_port=2200
ansible_ssh_common_args=-F /tmp/x

[rack2]
agent03.example.com ansible_port=2303

[cluster:children]
agents
rack2

[cluster:vars]
ansible_user=root
ansible_port=22
`
	got, err := ParseINI([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := []Host{
		{Name: "cm1.example.com", Line: 2, Groups: []string{}},
		{Name: "agent01.example.com", Port: 2200, User: "cmops", Groups: []string{"cluster", "agents"}, Line: 5},
		{Name: "agent02.example.com", Port: 2200, User: "cmops", Groups: []string{"cluster", "agents"}, Line: 5},
		{Name: "agent03.example.com", Port: 2303, User: "cmops", Groups: []string{"cluster", "agents", "rack2"}, Line: 5},
		{Name: "odd", Address: "10.0.0.9", Port: 2222, User: "old name", Groups: []string{"cluster", "agents"}, Line: 6},
	}
	if diff := cmp.Diff(want, got, cmp.Transformer("nilGroups", func(g []string) []string {
		if g == nil {
			return []string{}
		}
		return g
	})); diff != "" {
		t.Fatalf("(-want +got)\n%s", diff)
	}
}

func TestParseYAML(t *testing.T) {
	t.Parallel()
	src := `all:
  vars:
    ansible_user: root
  children:
    agents:
      vars:
        ansible_port: 2200
      hosts:
        agent1.example.com:
        agent2.example.com:
          ansible_host: 10.0.0.2
          ansible_port: 2202
          ansible_user: cmops
    servers:
      hosts:
        cm1.example.com:
`
	got, err := Parse([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := []Host{
		{Name: "agent1.example.com", Port: 2200, User: "root", Groups: []string{"agents"}},
		{Name: "agent2.example.com", Address: "10.0.0.2", Port: 2202, User: "cmops", Groups: []string{"agents"}},
		{Name: "cm1.example.com", User: "root", Groups: []string{"servers"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("(-want +got)\n%s", diff)
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	for _, src := range []string{
		"[agents\nhost1\n",
		"[agents:weird]\nx\n",
		"[agents:vars]\nnot a pair\n",
		"host1 ansible_port=abc\n",
		"host1 ansible_port=70000\n",
		"host1 novalue\n",
		"host[1:\n",
		"host[5:1]\n",
		"host[a:9]\n",
		"host[0:99999]\n",
		"host1 x=\"unterminated\n",
		"[]\nx\n",
		"all:\n  hosts: [1, 2]\n",
		"all:\n  children:\n    a:\n      hosts:\n        h[01:x]:\n",
		"\x00binary",
	} {
		if hs, err := Parse([]byte(src)); err == nil {
			t.Errorf("Parse(%q) = %+v, want an error", src, hs)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("[agents]\nagent[1:3] ansible_port=22\n[agents:vars]\nansible_user=x\n"))
	f.Add([]byte("all:\n  children:\n    agents:\n      hosts:\n        a:\n          ansible_port: 2\n"))
	f.Add([]byte("h[a:c][1:2]\n[g:children]\nungrouped\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		hosts, err := Parse(b)
		if err != nil {
			return
		}
		if len(hosts) > maxRange*10 {
			t.Fatalf("%d hosts", len(hosts))
		}
		seen := map[string]bool{}
		for _, h := range hosts {
			if h.Name == "" || seen[h.Name] {
				t.Fatalf("empty or duplicate host %q", h.Name)
			}
			seen[h.Name] = true
			if h.Port < 0 || h.Port > 65535 {
				t.Fatalf("port %d", h.Port)
			}
		}
	})
}

func TestBecomeAndKeyVars(t *testing.T) {
	t.Parallel()
	src := `[agents]
a1 ansible_ssh_private_key_file=~/.ssh/a1 ansible_become=yes ansible_become_user=svc ansible_become_password="{{ lookup('env', 'A1_SUDO') }}"
a2 ansible_private_key_file=/k/a2 ansible_become=false ansible_become_pass=plain-pw

[agents:vars]
ansible_become=true
`
	got, err := ParseINI([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := []Host{
		{Name: "a1", Line: 2, Groups: []string{"agents"}, IdentityFile: "~/.ssh/a1", Become: true, BecomeSet: true, BecomeUser: "svc", BecomePasswordEnv: "A1_SUDO"},
		{Name: "a2", Line: 3, Groups: []string{"agents"}, IdentityFile: "/k/a2", Become: false, BecomeSet: true, BecomePassword: "plain-pw"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("(-want +got)\n%s", diff)
	}
	for _, bad := range []string{
		"h ansible_become_password='$ANSIBLE_VAULT;1.1;AES256'",
		"h ansible_become_password='{{ vault_pw }}'",
		"h ansible_become_method=su",
		"h ansible_become=maybe",
	} {
		if _, err := ParseINI([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}

func TestBecomeAndKeyVarsYAML(t *testing.T) {
	t.Parallel()
	src := `all:
  vars:
    ansible_become: true
    ansible_become_password: "{{ lookup(\"env\", \"SUDO_PW\") }}"
  children:
    agents:
      hosts:
        y1:
          ansible_private_key_file: keys/y1
          ansible_port: 2201
        y2:
          ansible_become: false
`
	got, err := ParseYAML([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := []Host{
		{Name: "y1", Port: 2201, Groups: []string{"agents"}, IdentityFile: "keys/y1", Become: true, BecomeSet: true, BecomePasswordEnv: "SUDO_PW"},
		{Name: "y2", Groups: []string{"agents"}, Become: false, BecomeSet: true, BecomePasswordEnv: "SUDO_PW"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("(-want +got)\n%s", diff)
	}
	if _, err := ParseYAML([]byte("all:\n  hosts:\n    h:\n      ansible_become_password: !vault |\n        $ANSIBLE_VAULT;1.1;AES256\n        6162\n")); err == nil || !strings.Contains(err.Error(), "vault") {
		t.Fatalf("a vault value: %v", err)
	}
}
