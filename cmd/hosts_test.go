package cmd

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cmtls/cmtls/steps/answers"
)

func TestResolveAgentHosts(t *testing.T) {
	t.Parallel()
	api := func(names ...string) apiHostLister {
		return func(context.Context) ([]string, error) { return names, nil }
	}
	tests := []struct {
		name    string
		yaml    string
		inv     string
		api     apiHostLister
		want    []string // name:address:port:user
		wantErr string
	}{
		{name: "port unset is left to ssh config",
			yaml: "agents:\n  hosts: [a1, {name: a2, port: 2200, user: ops}]\n",
			want: []string{"a1::0:", "a2::2200:ops"}},
		{name: "agents.ssh.port given, even 22, is kept",
			yaml: "agents:\n  hosts: [a1]\n  ssh: {port: 22, user: root}\n",
			want: []string{"a1::22:root"}},
		{name: "inventory after hosts, first wins",
			yaml: "agents:\n  hosts: [a1]\n  inventory: inv.ini\n",
			inv:  "a1 ansible_port=9\na2 ansible_host=10.0.0.2 ansible_port=2222 ansible_user=u\n",
			want: []string{"a1::0:", "a2:10.0.0.2:2222:u"}},
		{name: "from api after the rest",
			yaml: "agents:\n  hosts: [a1]\n  from_api: true\n",
			api:  api("a1", "a3"),
			want: []string{"a1::0:", "a3::0:"}},
		{name: "from api without the api",
			yaml:    "agents:\n  from_api: true\n",
			wantErr: "agents.from_api needs the CM API"},
		{name: "missing inventory",
			yaml:    "agents:\n  inventory: nope.ini\n",
			wantErr: "cannot read the inventory"},
		{name: "bad inventory",
			yaml:    "agents:\n  inventory: inv.ini\n",
			inv:     "[g\n",
			wantErr: "inventory"},
		{name: "api lists none",
			yaml:    "agents:\n  from_api: true\n",
			api:     api(),
			wantErr: "no agent hosts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if tt.inv != "" {
				if err := os.WriteFile(filepath.Join(dir, "inv.ini"), []byte(tt.inv), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			p := filepath.Join(dir, "a.yaml")
			if err := os.WriteFile(p, []byte("version: 1\n"+tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			file, err := answers.Load(p)
			if err != nil {
				t.Fatal(err)
			}
			applyDefaults(file)
			hosts, err := resolveAgentHosts(context.Background(), nil, file, tt.api)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				var ae *answers.Error
				if !errors.As(err, &ae) {
					t.Errorf("err %T is not an answers error (exit 2 with the file's line)", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, h := range hosts {
				got = append(got, strings.Join([]string{h.Name, h.Address, strconv.Itoa(h.Port), h.User}, ":"))
				if h.ConfigPath != answers.DefaultAgentConfig {
					t.Errorf("%s: config path %q, want the default", h.Name, h.ConfigPath)
				}
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("hosts (-want +got):\n%s", d)
			}
		})
	}
}
