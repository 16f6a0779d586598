package idp

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cmtls/cmtls/daemon/conf"
	"github.com/cmtls/cmtls/remote/localfile"
)

// FileConfig is the test IdP's config file (`cmtls daemon idp --config`),
// for the sandbox. Relative paths are taken from the file's directory.
//
//	bind: 127.0.0.1
//	port: 0                      # 0 = pick a free port once (kept in state)
//	base_url: ""                 # default http://<bind>:<port>
//	users:
//	  - {name: alice, password_file: secrets/alice, ou: [cm-admins]}
//	  - {name: bob, password_file: secrets/bob, ou: [cm-users]}
//	sp_metadata_url: http://localhost:7180/saml/metadata  # where the SP serves its metadata
//	sp_metadata_ca_file: server.pem  # verifies that URL's TLS (read at every fetch)
//	key: idp-key.pem             # generated once (0600) when missing
//	metadata: idp-metadata.xml   # written at every start
//	sps: sps                     # SP metadata last loaded, kept across restarts
//	state: idp-state.json
//	log: idp.log
//	pid: idp.pid                 # written once listening, removed at exit
type FileConfig struct {
	Bind    string `yaml:"bind"`
	Port    int    `yaml:"port"`
	BaseURL string `yaml:"base_url"`
	Users   []struct {
		Name         string   `yaml:"name"`
		PasswordFile string   `yaml:"password_file"`
		UID          string   `yaml:"uid"`
		OU           []string `yaml:"ou"`
		Email        string   `yaml:"email"`
	} `yaml:"users"`
	// SPMetadataURL is where the IdP loads SP metadata from when a
	// request comes from an issuer it does not trust yet; "" loads none.
	SPMetadataURL string `yaml:"sp_metadata_url"`
	// SPMetadataCAFile verifies SPMetadataURL's TLS certificate (and that
	// of the https URL it redirects to); "" means the system roots.
	SPMetadataCAFile string `yaml:"sp_metadata_ca_file"`
	Key              string `yaml:"key"`
	Metadata         string `yaml:"metadata"`
	SPs              string `yaml:"sps"`
	State            string `yaml:"state"`
	Log              string `yaml:"log"`
	Pid              string `yaml:"pid"`
}

// State is what the IdP keeps between starts.
type State struct {
	Port int `json:"port"`
	PID  int `json:"pid,omitempty"`
}

// LoadFileConfig reads and checks the config file.
func LoadFileConfig(path string) (*FileConfig, error) {
	abs, b, err := conf.Read(path, "idp config")
	if err != nil {
		return nil, err
	}
	var c FileConfig
	if err := conf.Decode(b, abs, "idp config", &c); err != nil {
		return nil, err
	}
	if c.Bind == "" {
		c.Bind = "127.0.0.1"
	}
	if c.Port < 0 || c.Port > 65535 {
		return nil, fmt.Errorf("idp config %s: port %d out of range", abs, c.Port)
	}
	dir := filepath.Dir(abs)
	def := func(p *string, name string) {
		if *p == "" {
			*p = name
		}
		if !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	def(&c.Key, "idp-key.pem")
	def(&c.Metadata, "idp-metadata.xml")
	def(&c.SPs, "sps")
	def(&c.State, "idp-state.json")
	def(&c.Log, "idp.log")
	def(&c.Pid, "idp.pid")
	if c.SPMetadataURL != "" {
		if u, err := url.Parse(c.SPMetadataURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("idp config %s: sp_metadata_url %q is not an http(s) URL", abs, c.SPMetadataURL)
		}
	}
	if c.SPMetadataCAFile != "" {
		if c.SPMetadataURL == "" {
			return nil, fmt.Errorf("idp config %s: sp_metadata_ca_file needs sp_metadata_url", abs)
		}
		def(&c.SPMetadataCAFile, "")
	}
	for i := range c.Users {
		u := &c.Users[i]
		if u.Name == "" || u.PasswordFile == "" {
			return nil, fmt.Errorf("idp config %s: users[%d] needs name and password_file", abs, i)
		}
		def(&u.PasswordFile, "")
	}
	return &c, nil
}

// RunOptions are what a caller injects.
type RunOptions struct {
	// Ready is called once listening (tests, the sandbox).
	Ready func(s *Server, baseURL string)
}

// Run serves the IdP from its config file until ctx ends: it keeps its key
// and port across restarts, writes its metadata file and reloads the SP
// metadata it loaded before.
func Run(ctx context.Context, fc *FileConfig, opts RunOptions) error {
	logf, err := os.OpenFile(fc.Log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
	if err != nil {
		return fmt.Errorf("idp log: %w", err)
	}
	defer logf.Close()
	log := slog.New(slog.NewTextHandler(logf, nil))
	key, err := loadOrCreateKey(fc.Key)
	if err != nil {
		return err
	}
	var st State
	if b, err := os.ReadFile(fc.State); err == nil {
		_ = json.Unmarshal(b, &st)
	}
	port := st.Port
	if port == 0 {
		port = fc.Port
	}
	l, err := net.Listen("tcp", net.JoinHostPort(fc.Bind, strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("idp port: %w", err)
	}
	st.Port = l.Addr().(*net.TCPAddr).Port
	st.PID = os.Getpid()
	base := fc.BaseURL
	if base == "" {
		base = "http://" + net.JoinHostPort(fc.Bind, strconv.Itoa(st.Port))
	}
	var users []User
	for _, u := range fc.Users {
		pw, err := os.ReadFile(u.PasswordFile)
		if err != nil {
			l.Close()
			return fmt.Errorf("idp user %s: %w", u.Name, err)
		}
		users = append(users, User{Name: u.Name, Password: strings.TrimRight(strings.SplitN(string(pw), "\n", 2)[0], "\r"), UID: u.UID, OU: u.OU, Email: u.Email})
	}
	// The certificate is made from the key at every start; its validity
	// window moves, the key (what SPs trust through the metadata) stays.
	cert, err := selfSigned(key)
	if err != nil {
		l.Close()
		return err
	}
	var sources []MetadataSource
	if fc.SPMetadataURL != "" {
		sources = append(sources, MetadataSource{URL: fc.SPMetadataURL, CAFile: fc.SPMetadataCAFile})
	}
	s, err := New(Config{BaseURL: base, Key: key, Certificate: cert, Users: users, SPMetadata: sources, Logger: log})
	if err != nil {
		l.Close()
		return err
	}
	s.spDir = fc.SPs
	if err := s.loadSPs(); err != nil {
		l.Close()
		return err
	}
	md, err := s.Metadata()
	if err == nil {
		err = writeAtomic(fc.Metadata, md, 0o644)
	}
	if err == nil {
		b, _ := json.Marshal(st)
		err = writeAtomic(fc.State, append(b, '\n'), 0o600)
	}
	if err != nil {
		l.Close()
		return err
	}
	log.Info("idp: listening", "url", base)
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(l) }()
	// The pid file says "serving": `daemon idp start` waits for it.
	pid := strconv.Itoa(os.Getpid())
	if err := writeAtomic(fc.Pid, []byte(pid+"\n"), 0o644); err != nil {
		_ = s.Shutdown(context.Background())
		<-errc
		return fmt.Errorf("idp pid file: %w", err)
	}
	defer func() {
		if b, err := os.ReadFile(fc.Pid); err == nil && strings.TrimSpace(string(b)) == pid {
			_ = os.Remove(fc.Pid)
		}
	}()
	if opts.Ready != nil {
		opts.Ready(s, base)
	}
	select {
	case err = <-errc:
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = s.Shutdown(sctx)
		cancel()
		err = <-errc
	}
	st.PID = 0
	b, _ := json.Marshal(st)
	if werr := writeAtomic(fc.State, append(b, '\n'), 0o600); werr != nil && err == nil {
		err = werr
	}
	return err
}

func loadOrCreateKey(path string) (*rsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return nil, err
		}
		if err := writeAtomic(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			return nil, err
		}
		return k, nil
	}
	if err != nil {
		return nil, fmt.Errorf("idp key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("idp key %s: no PEM block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("idp key %s: %w", path, err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("idp key %s: not an RSA key", path)
	}
	return rk, nil
}

// loadSPs registers the SP metadata saved in spDir.
func (s *Server) loadSPs() error {
	if s.spDir == "" {
		return nil
	}
	ents, err := os.ReadDir(s.spDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".xml") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(s.spDir, e.Name()))
		if err != nil {
			return err
		}
		ed, err := parseSP(b)
		if err == nil {
			err = s.trustSP(ed, b, false)
		}
		if err != nil {
			s.log.Warn("idp: saved SP metadata ignored", "file", e.Name(), "err", err)
		}
	}
	return nil
}

// writeAtomic writes path atomically, making its directory first: the
// daemon's state directory may not exist yet.
func writeAtomic(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return localfile.Write(path, data, mode)
}
