package sandbox

import (
	"context"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/cmtls/cmtls/remote/cmapi/cmapitest"
)

// TestInitThroughContractProxy runs the real cmtls binary's init (Steps
// 1-6), status and rollback against the 7.5.3 sandbox through a proxy that
// judges every API exchange by CM's v45 definition: none may fall outside
// it.
func TestInitThroughContractProxy(t *testing.T) {
	exe := cmtlsBinary(t)
	dir := t.TempDir()
	m, err := Up(context.Background(), Options{Dir: dir, Agents: 2, Exe: exe})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = Down(dir) })
	l := NewLayout(dir)
	chk := cmapitest.New(t)
	target, _ := url.Parse("http://127.0.0.1:" + strconv.Itoa(m.Ports["http"]))
	proxy := httptest.NewServer(chk.Proxy(target))
	defer proxy.Close()
	f := Answers(l, m)
	f.Server.API.URL = proxy.URL
	b, err := MarshalAnswers(f)
	if err != nil {
		t.Fatal(err)
	}
	ans := filepath.Join(dir, "answers-via-proxy.yaml")
	if err := os.WriteFile(ans, b, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	run := func(args ...string) {
		t.Helper()
		cmd := exec.CommandContext(ctx, exe, args...)
		cmd.Env = append(os.Environ(), "CMTLS_NO_INPUT=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("cmtls %v: %v\n%s", args, err, out)
		}
	}
	run("init", "--answers", ans, "--yes", "--skip", "console-tls")
	afterInit := chk.Exchanges()
	run("status", "--answers", ans, "--json")
	run("rollback", "--answers", ans, "--yes")
	if afterInit < 5 || chk.Exchanges() <= afterInit {
		t.Errorf("the proxy judged %d exchanges (%d by init): cmtls did not go through it", chk.Exchanges(), afterInit)
	}
	t.Logf("%d API exchanges judged, %d outside CM's definition", chk.Exchanges(), len(chk.Violations()))
}
