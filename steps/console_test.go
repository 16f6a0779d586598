package steps

import (
	"context"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cmtls/cmtls/pki"
	"github.com/cmtls/cmtls/remote"
	"github.com/cmtls/cmtls/steps/answers"
)

// On a cluster without a Cloudera Management Service (the API answers 404
// for /cm/service) Step 7 says so and turns console TLS on all the same;
// before that, a keystore the CM server's account cannot read stops the
// run before the server restarts (the known lockout), as bad input.
func TestE2EConsoleTLSNoManagementServiceAndUnreadableKeystore(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("su"); err != nil {
		t.Skip("no su: the check as another account needs it")
	}
	if out, err := exec.Command("id", "-u", "nobody").Output(); err != nil || strings.TrimSpace(string(out)) == "" {
		t.Skip("no account nobody")
	}
	c := newClusterWith(t, 1, "management_service: false\n")
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	f := c.answers(true)
	f.Server.User = "nobody" // cannot reach the test's private temp directory
	col := &Collector{}
	_, err := Run(ctx, c.env(f, col), TLSSteps(), Options{})
	if exitOf(err) != 2 || !strings.Contains(err.Error(), "nobody cannot read the keystore") || !strings.Contains(hint(err), "chown nobody") {
		t.Fatalf("unreadable keystore: exit %d (%v), hint %q\n%s", exitOf(err), err, hint(err), eventsText(col))
	}
	if n := c.server.Restarts.Load(); n != 0 {
		t.Fatalf("the server was restarted %d times with a keystore it cannot read", n)
	}
	f.Server.User = "root"
	col = &Collector{}
	res, err := Run(ctx, c.env(f, col), TLSSteps(), Options{})
	if err != nil {
		t.Fatalf("init: %v\n%s", err, eventsText(col))
	}
	var said bool
	for _, ch := range res.Plan {
		for _, n := range ch.Notes {
			said = said || ch.Step == "console-tls" && strings.Contains(n, "no Cloudera Management Service")
		}
		for _, it := range ch.Items {
			if strings.Contains(it.Target, "Management Service") || strings.HasPrefix(it.Target, "ssl_client_truststore") {
				t.Errorf("planned for a Management Service that does not exist: %+v", it)
			}
		}
	}
	if !said {
		t.Error("Step 7 did not say that the cluster has no Management Service")
	}
	if res.Steps[len(res.Steps)-1].Status != StatusChanged {
		t.Errorf("console-tls: %+v", res.Steps[len(res.Steps)-1])
	}
	to, err := c.env(f, nil).redirectTarget(ctx)
	if err != nil || to.Scheme != "https" {
		t.Errorf("console not on TLS: %v %v", to, err)
	}
}

// judgeAccess reads the access check's answer: test -r as the account, or
// a judgement from owner, group and mode when no check as the account was
// possible.
func TestJudgeAccess(t *testing.T) {
	cases := []struct {
		out  string
		want bool
	}{
		{"yes", true},
		{"no", false},
		{"stat cloudera-scm cloudera-scm 600 cloudera-scm", true},
		{"stat root root 600 cloudera-scm", false},
		{"stat root cloudera-scm 640 cloudera-scm other", true},
		{"stat root cloudera-scm 600 cloudera-scm", false},
		{"stat root root 644 cloudera-scm", true},
		{"stat cloudera-scm root 044 cloudera-scm", false}, // the owner's bits decide for the owner
		{"stat - - 0 cloudera-scm", false},
		{"stat root root 9x9 cloudera-scm", false},
		{"", false},
		{"garbage", false},
	}
	for _, c := range cases {
		if got, how := judgeAccess("cloudera-scm", c.out); got != c.want || how == "" {
			t.Errorf("%q: %v (%s), want %v", c.out, got, how, c.want)
		}
	}
}

func FuzzJudgeAccess(f *testing.F) {
	f.Add("stat root cloudera-scm 640 cloudera-scm")
	f.Add("yes")
	f.Add("stat a b 7777777777777 c")
	f.Fuzz(func(t *testing.T, out string) {
		ok, how := judgeAccess("cloudera-scm", out)
		if how == "" {
			t.Fatal("no reason")
		}
		if ok && out != "yes" && !strings.HasPrefix(out, "stat") {
			t.Fatalf("%q judged readable", out)
		}
	})
}

// Before TLS goes on the keystore must open with the password CM will be
// given and hold the alias as a key entry; each failure is bad input
// naming the setting to fix.
func TestKeystoreOpensWithPassword(t *testing.T) {
	data, _, err := pki.GenerateKeystore(rand.Reader, pki.TypeJKS, "jetty", "EC", 256,
		pki.CertOptions{Subject: pki.Name{CN: "cm1"}, DNSNames: []string{"cm1"}}, []byte("changeit"), time.Now())
	must(t, err)
	p := filepath.Join(t.TempDir(), "cm.keystore")
	must(t, os.WriteFile(p, data, 0o600))
	env := &Env{Server: remote.NewLocal("cm1"), Now: time.Now}
	env.init()
	try := func(pass, alias string) error {
		env.Answers = &answers.File{Server: &answers.Server{Host: "cm1", User: "root",
			Keystore: &answers.Keystore{Path: p, Alias: alias, Password: answers.NewSecret([]byte(pass))}}}
		return env.checkKeystoreAccess(context.Background(), "restart-server", "the server was not restarted")
	}
	for _, c := range []struct{ pass, alias, want, fix string }{
		{"wrong-pass", "jetty", "does not open with server.keystore.password", "server.keystore.password"},
		{"changeit", "tomcat", `no key entry "tomcat"`, "server.keystore.alias"},
	} {
		err := try(c.pass, c.alias)
		if exitOf(err) != 2 || !strings.Contains(err.Error(), c.want) || !strings.Contains(hint(err), c.fix) || !strings.Contains(err.Error(), "not restarted") {
			t.Errorf("%s/%s: %v (hint %q)", c.pass, c.alias, err, hint(err))
		}
	}
	if err := try("changeit", "jetty"); err != nil {
		t.Errorf("good keystore: %v", err)
	}
}
