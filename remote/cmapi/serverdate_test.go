package cmapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// ServerDate is the Date header of the last answer, so that heartbeat ages
// are judged on the server's clock.
func TestServerDate(t *testing.T) {
	t.Parallel()
	when := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", when.Format(http.TimeFormat))
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"items":[]}`))
	}))
	defer srv.Close()
	c, err := New(srv.URL, "admin", []byte("admin"), WithAPIVersion("v19"))
	if err != nil {
		t.Fatal(err)
	}
	if !c.ServerDate().IsZero() {
		t.Fatal("a date before any answer")
	}
	if _, err := c.Hosts(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := c.ServerDate(); !got.Equal(when) {
		t.Fatalf("ServerDate() = %s, want %s", got, when)
	}
}
