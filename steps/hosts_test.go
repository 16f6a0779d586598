package steps

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cmtls/cmtls/remote/cmapi"
)

var cmHosts = []cmapi.Host{
	{HostID: "a1-uuid", Hostname: "agent1.dc1.example.com", IPAddress: "10.0.0.1"},
	{HostID: "a2-uuid", Hostname: "agent2.dc1.example.com", IPAddress: "10.0.0.2"},
	{HostID: "a2b-uuid", Hostname: "agent2.dc2.example.com", IPAddress: "10.0.1.2"},
	{HostID: "a3-uuid", Hostname: "agent3", IPAddress: "10.0.0.3"},
}

// Agents as users write them meet the hosts CM lists: the FQDN in any
// case, a short name, an IP, the hostId; a short name two hosts share is
// an error naming both.
func TestMatchHost(t *testing.T) {
	cases := []struct {
		name, id, want string
		ambiguous      bool
	}{
		{name: "agent1.dc1.example.com", want: "a1-uuid"},
		{name: "AGENT1.dc1.example.com.", want: "a1-uuid"},
		{name: "agent1", want: "a1-uuid"},
		{name: "10.0.0.1", want: "a1-uuid"},
		{name: "agent2", ambiguous: true},
		{name: "agent2.dc2.example.com", want: "a2b-uuid"},
		{name: "agent3.dc1.example.com", want: "a3-uuid"}, // CM lists a short name
		{name: "agent1.dc9.example.com"},                  // another domain: no match
		{name: "alias", id: "a2b-uuid", want: "a2b-uuid"},
		{name: "agent2", id: "a2-uuid", want: "a2-uuid"}, // the hostId settles it
		{name: "10.9.9.9"},
		{name: ""},
	}
	for _, c := range cases {
		h, err := MatchHost(cmHosts, c.name, c.id)
		var amb *AmbiguousHostError
		switch {
		case c.ambiguous:
			if !errors.As(err, &amb) || len(amb.Candidates) != 2 || !strings.Contains(err.Error(), "agent2.dc1.example.com") ||
				!strings.Contains(err.Error(), "agent2.dc2.example.com") || !amb.BadInput() || amb.Hint() == "" {
				t.Errorf("%q: %v, want ambiguous naming both", c.name, err)
			}
		case c.want == "":
			if !errors.Is(err, errNoSuchHost) {
				t.Errorf("%q: %+v %v, want no host", c.name, h, err)
			}
		case err != nil || h.HostID != c.want:
			t.Errorf("%q/%q: %+v %v, want %s", c.name, c.id, h, err, c.want)
		}
	}
}

func FuzzMatchHost(f *testing.F) {
	f.Add("agent1", "")
	f.Add("10.0.0.1", "")
	f.Add("agent2", "a2b-uuid")
	f.Add(".", "")
	f.Fuzz(func(t *testing.T, name, id string) {
		h, err := MatchHost(cmHosts, name, id)
		if err != nil {
			var amb *AmbiguousHostError
			if !errors.Is(err, errNoSuchHost) && (!errors.As(err, &amb) || len(amb.Candidates) < 2) {
				t.Fatalf("%q: %v", name, err)
			}
			return
		}
		// A match is one of CM's hosts, found by a rule that holds.
		n := strings.TrimSuffix(strings.TrimSpace(name), ".")
		if h.HostID != id && !strings.EqualFold(strings.TrimSuffix(h.Hostname, "."), n) && !sameIP(h.IPAddress, n) &&
			!strings.EqualFold(firstLabel(h.Hostname), firstLabel(n)) {
			t.Fatalf("%q/%q matched %+v", name, id, h)
		}
	})
}

// On the embedded CM, agents CM lists by another name are proven all the
// same: one written by its short name (CM lists its FQDN), one by an alias
// CM does not know, found by the hostId its agent keeps in lib_dir/uuid.
func TestE2EHostsByShortNameAndHostID(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 0)
	c.editINI = func(name, ini string) string {
		fqdn := map[string]string{"node7": "node7.cluster.example", "n8-alias": "node8.cluster.example"}[name]
		lib := filepath.Join(c.dir, name, "lib")
		must(t, os.MkdirAll(lib, 0o755))
		ini = strings.Replace(ini, "listening_hostname="+name, "listening_hostname="+fqdn, 1)
		return strings.Replace(ini, "[General]\n", "[General]\nlib_dir="+lib+"\n", 1)
	}
	c.addAgent("node7", "localhost")
	c.addAgent("n8-alias", "localhost")
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	col := &Collector{}
	res, err := Run(ctx, c.env(c.answers(false), col), TLSSteps(), Options{})
	if err != nil {
		t.Fatalf("init: %v\n%s", err, eventsText(col))
	}
	for _, h := range res.Hosts {
		if h.Status != HostVerified {
			t.Errorf("%s: %+v", h.Host, h)
		}
	}
	seen, err := c.hostsSeen(ctx)
	must(t, err)
	var names []string
	for _, h := range seen {
		names = append(names, h.Hostname)
	}
	if strings.Join(names, ",") != "node7.cluster.example,node8.cluster.example" && strings.Join(names, ",") != "node8.cluster.example,node7.cluster.example" {
		t.Errorf("CM knows %v", names)
	}
}
