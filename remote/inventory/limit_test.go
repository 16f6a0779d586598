package inventory

import (
	"strings"
	"testing"
)

const cluster = `[masters]
cm1.example.com

[agents]
agent[1:4].example.com

[rack1]
agent1.example.com ansible_ssh_private_key_file=~/.ssh/rack1 ansible_become=yes ansible_become_user=root ansible_become_pass=s3cret
agent2.example.com

[rack2]
agent3.example.com
agent4.example.com ansible_become=false

[rack2:vars]
ansible_private_key_file=/keys/rack2

[cluster:children]
masters
agents
`

func names(hs []Host) string {
	var out []string
	for _, h := range hs {
		out = append(out, strings.TrimSuffix(h.Name, ".example.com"))
	}
	return strings.Join(out, " ")
}

// --limit with Ansible's pattern subset: names, groups, globs, ":"
// and "," unions, "&" intersections and "!" exclusions (applied after the
// unions, whatever their order), all in inventory order.
func TestLimit(t *testing.T) {
	t.Parallel()
	inv, err := ParseInventory([]byte(cluster))
	if err != nil {
		t.Fatal(err)
	}
	for pattern, want := range map[string]string{
		"":                         "cm1 agent1 agent2 agent3 agent4",
		"all":                      "cm1 agent1 agent2 agent3 agent4",
		"agents":                   "agent1 agent2 agent3 agent4",
		"rack1:rack2":              "agent1 agent2 agent3 agent4",
		"rack2,masters":            "cm1 agent3 agent4",
		"agents:!rack1":            "agent3 agent4",
		"!rack1:agents":            "agent3 agent4",
		"agents:&rack2":            "agent3 agent4",
		"cluster:&agents:!agent4*": "agent1 agent2 agent3",
		"agent3.example.com":       "agent3",
		"agent[12]*":               "agent1 agent2",
		"!agents":                  "cm1",
		"rack*:!rack2":             "agent1 agent2",
	} {
		got, err := Limit(inv.Hosts, pattern)
		if err != nil {
			t.Errorf("%q: %v", pattern, err)
			continue
		}
		if names(got) != want {
			t.Errorf("%q: %s, want %s", pattern, names(got), want)
		}
	}
	for pattern, want := range map[string]string{
		"rack3":          `"rack3" matches no host or group`,
		"agents:&master": "leaves no host",
		"agents::rack1":  "an empty term",
		"!":              "needs a name",
		"agent[":         "not a valid pattern",
	} {
		if _, err := Limit(inv.Hosts, pattern); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", pattern, err, want)
		}
	}
	if g := strings.Join(inv.GroupNames(), " "); !strings.Contains(g, "rack1") || !strings.Contains(g, "cluster") || strings.Contains(g, "all") {
		t.Errorf("groups %q", g)
	}
}

// The connection variables of a host, its group's and the old names.
func TestAnsibleHostVars(t *testing.T) {
	t.Parallel()
	inv, err := ParseInventory([]byte(cluster))
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]Host{}
	for _, h := range inv.Hosts {
		by[strings.TrimSuffix(h.Name, ".example.com")] = h
	}
	if h := by["agent1"]; h.IdentityFile != "~/.ssh/rack1" || !h.Become || h.BecomeUser != "root" || h.BecomePassword != "s3cret" {
		t.Errorf("agent1 %+v", h)
	}
	if h := by["agent4"]; h.IdentityFile != "/keys/rack2" || h.Become {
		t.Errorf("agent4 %+v", h)
	}
	if h := by["agent2"]; h.IdentityFile != "" || h.Become {
		t.Errorf("agent2 %+v", h)
	}
	if _, err := ParseINI([]byte("[a]\nh ansible_become=maybe\n")); err == nil || !strings.Contains(err.Error(), "not a boolean") {
		t.Errorf("ansible_become=maybe: %v", err)
	}
	y, err := ParseYAML([]byte("all:\n  hosts:\n    h1:\n      ansible_become: true\n      ansible_become_password: pw\n      ansible_ssh_private_key_file: /k\n"))
	if err != nil || len(y) != 1 || !y[0].Become || y[0].BecomePassword != "pw" || y[0].IdentityFile != "/k" {
		t.Errorf("yaml: %+v %v", y, err)
	}
}

// FuzzLimit: any pattern on any inventory gives a subset of the hosts in
// inventory order, or an error; never a panic.
func FuzzLimit(f *testing.F) {
	for _, s := range []string{"agents:!rack1", "a,b,&c", "!x", "*", "[", "rack?:&agents"} {
		f.Add([]byte(cluster), s)
	}
	f.Fuzz(func(t *testing.T, b []byte, pattern string) {
		hs, err := Parse(b)
		if err != nil {
			return
		}
		got, err := Limit(hs, pattern)
		if err != nil {
			return
		}
		j := 0
		for _, h := range got {
			for j < len(hs) && hs[j].Name != h.Name {
				j++
			}
			if j == len(hs) {
				t.Fatalf("%q: %s not a host of the inventory or out of order", pattern, h.Name)
			}
			j++
		}
	})
}
