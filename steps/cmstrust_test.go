package steps

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cmtls/cmtls/remote"
	"github.com/cmtls/cmtls/remote/cmapi"
	"github.com/cmtls/cmtls/remote/cmapi/cmapitest"
	"github.com/cmtls/cmtls/steps/answers"
)

// A Management Service restart is awaited to its end: a command CM reports
// as failed shows CM's resultMessage and the fix; one still running when
// verify.command_timeout ends says so and names that setting. Every
// exchange is judged by CM's v45 definition.
func TestRestartManagementAwaited(t *testing.T) {
	chk := cmapitest.New(t)
	var polls atomic.Int32
	var outcome atomic.Value // "fail" | "hang"
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/version", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "v45") })
	mux.HandleFunc("POST /api/v45/cm/service/commands/restart", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, `{"id":41,"name":"Restart","startTime":"2026-01-01T00:00:00.000Z","active":true}`)
	})
	mux.HandleFunc("GET /api/v45/commands/41", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if polls.Add(1) < 3 || outcome.Load() == "hang" {
			fmt.Fprint(w, `{"id":41,"name":"Restart","startTime":"2026-01-01T00:00:00.000Z","active":true}`)
			return
		}
		fmt.Fprint(w, `{"id":41,"name":"Restart","startTime":"2026-01-01T00:00:00.000Z","endTime":"2026-01-01T00:00:09.000Z","active":false,"success":false,"resultMessage":"Command failed to run because service Host Monitor has invalid configuration."}`)
	})
	srv := httptest.NewServer(chk.Handler(mux))
	defer srv.Close()
	env := &Env{Answers: &answers.File{}, Server: remote.NewLocal("cm1"), Now: time.Now}
	mk := func(timeout time.Duration) {
		api, err := cmapi.New(srv.URL, "admin", []byte("admin"), cmapi.WithTransport(chk.Transport), cmapi.WithCommandTimeout(timeout), cmapi.WithPollInterval(20*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		env.API = api
	}
	ctx := context.Background()

	outcome.Store("fail")
	mk(10 * time.Second)
	err := env.restartManagement(ctx, "console-tls")
	var he *HostError
	if !errors.As(err, &he) || !strings.Contains(err.Error(), "Host Monitor has invalid configuration") || !strings.Contains(he.Hint(), "Recent Commands") {
		t.Fatalf("failed command: %v", err)
	}
	if polls.Load() < 3 {
		t.Errorf("the command was polled %d times: not awaited", polls.Load())
	}

	outcome.Store("hang")
	polls.Store(0)
	mk(200 * time.Millisecond)
	err = env.restartManagement(ctx, "console-tls")
	if !errors.As(err, &he) || !strings.Contains(err.Error(), "still active") || !strings.Contains(he.Hint(), "verify.command_timeout") {
		t.Fatalf("command that does not end: %v", err)
	}
	if chk.Exchanges() < 6 {
		t.Errorf("%d exchanges judged", chk.Exchanges())
	}
}
