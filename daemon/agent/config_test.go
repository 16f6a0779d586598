package agent

import (
	"os"
	"testing"
)

func TestParseConfigStockFile(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("testdata/config.ini")
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseConfig(b)
	if err != nil {
		t.Fatal(err)
	}
	// Commented keys are unset; shipped defaults hold.
	if c.ServerHost != "localhost" || c.ServerPort != 7182 || c.UseTLS || c.Verifies() || c.MaxCertDepth != 9 || c.LogFile != "" || c.LibDir != "" {
		t.Fatalf("stock config = %+v", c)
	}
}

func TestParseConfigCases(t *testing.T) {
	t.Parallel()
	ok := []struct {
		in   string
		want Config
	}{
		{"[General]\nserver_host=cm1.example.com\nserver_port=7182\n[Security]\nuse_tls=1\nverify_cert_file=/etc/cmf/server.pem\n",
			Config{ServerHost: "cm1.example.com", ServerPort: 7182, UseTLS: true, VerifyCertFile: "/etc/cmf/server.pem", MaxCertDepth: 9}},
		// '#' inside a value is part of it (ConfigParser has no inline comments).
		{"[General]\nserver_host=cm1#x\n[Security]\nuse_tls=0\n# verify_cert_file=/x\nverify_cert_dir=\n",
			Config{ServerHost: "cm1#x", ServerPort: 7182, MaxCertDepth: 9}},
		{"[General]\r\nserver_host=h\r\n[Security]\r\nuse_tls=1\r\nmax_cert_depth=2\r\n",
			Config{ServerHost: "h", ServerPort: 7182, UseTLS: true, MaxCertDepth: 2}},
	}
	for _, tc := range ok {
		got, err := ParseConfig([]byte(tc.in))
		if err != nil || got != tc.want {
			t.Errorf("ParseConfig(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{
		"[General]\nserver_port=abc\n",
		"[General]\nserver_port=70000\n",
		"[Security]\nuse_tls=maybe\n",
		"[Security]\nmax_cert_depth=-1\n",
	} {
		if _, err := ParseConfig([]byte(bad)); err == nil {
			t.Errorf("ParseConfig(%q) accepted", bad)
		}
	}
}

func FuzzParseConfig(f *testing.F) {
	if b, err := os.ReadFile("testdata/config.ini"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("[General]\nserver_host=a\nserver_port=1\n[Security]\nuse_tls=1\nverify_cert_dir=/d\n"))
	f.Add([]byte("[General\nx"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseConfig(b)
		if err != nil {
			return
		}
		if c.ServerPort < 1 || c.ServerPort > 65535 || c.MaxCertDepth < 0 || c.ServerHost == "" {
			t.Fatalf("accepted out-of-range config %+v", c)
		}
	})
}
