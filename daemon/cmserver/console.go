package cmserver

import (
	"fmt"
	"html/template"
	"net"
	"net/http"
	"strings"
)

// consoleHandler serves the Admin Console and the API on 7180 (or 7183
// once WEB_TLS is on).
func (s *Server) consoleHandler(tls bool) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/api/", s.handleAPI)
	if s.samlOK {
		mux.HandleFunc("/saml/", func(w http.ResponseWriter, r *http.Request) { s.samlHandler().ServeHTTP(w, r) })
	}
	mux.HandleFunc("GET /cmf/login", s.handleLoginPage)
	mux.HandleFunc("GET /cmf/localLogin", s.handleLoginPage)
	mux.HandleFunc("POST /j_spring_security_check", s.handleLogin)
	mux.HandleFunc("/cmf/logout", func(w http.ResponseWriter, r *http.Request) {
		// With SAML, logout is Single Logout: the SP ends its session and
		// sends a signed LogoutRequest to the IdP, so that the next login
		// asks for the password again. A GET ends nothing (logout CSRF):
		// the SP's page asks and posts back with its CSRF token; a POST
		// goes on to the SP with its form (307).
		if s.samlOK {
			if r.Method != http.MethodPost {
				http.Redirect(w, r, "/saml/logout", http.StatusFound)
				return
			}
			s.dropSession(r)
			http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1})
			http.Redirect(w, r, "/saml/logout", http.StatusTemporaryRedirect)
			return
		}
		s.dropSession(r)
		http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1})
		http.Redirect(w, r, "/cmf/login", http.StatusFound)
	})
	mux.HandleFunc("GET /cmf/home", s.handleHome)
	mux.HandleFunc("GET /cmf/hardware/hosts", s.handleHostsPage)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/cmf/home", http.StatusFound)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.NotFound(w, r)
	})
	var h http.Handler = mux
	if s.cfg.Middleware != nil {
		h = s.cfg.Middleware(h)
	}
	return securityHeaders(h, tls)
}

func securityHeaders(h http.Handler, tls bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Frame-Options", "DENY")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if tls {
			w.Header().Set("Strict-Transport-Security", "max-age=31536000")
		}
		h.ServeHTTP(w, r)
	})
}

// redirectHandler is 7180 once console TLS is on: everything goes to 7183
// (GET with 302 as CM does; other methods with 307 so API writes survive).
func (s *Server) redirectHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.srvMu.Lock()
		addr := s.https
		s.srvMu.Unlock()
		_, port, _ := net.SplitHostPort(addr)
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if host == "" {
			host = s.cfg.Host
		}
		target := "https://" + net.JoinHostPort(host, port) + r.URL.RequestURI()
		code := http.StatusFound
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			code = http.StatusTemporaryRedirect
		}
		http.Redirect(w, r, target, code)
	})
}

var loginPage = template.Must(template.New("login").Parse(`<!DOCTYPE html>
<html><head><title>Cloudera Manager</title></head>
<body>
<h1>Cloudera Manager</h1>
{{if .Error}}<p class="error">{{.Error}}</p>{{end}}
<form method="POST" action="/j_spring_security_check">
<label>Username <input name="j_username" autocomplete="username"></label>
<label>Password <input name="j_password" type="password" autocomplete="current-password"></label>
<button type="submit">Sign In</button>
</form>
{{if .SAML}}<p><a href="/saml/login">Sign in with SAML</a></p>{{end}}
</body></html>
`))

var homePage = template.Must(template.New("home").Parse(`<!DOCTYPE html>
<html><head><title>Cloudera Manager - Home</title></head>
<body>
<h1>Cloudera Manager</h1>
<p id="user">Logged in as {{.User}} ({{.Role}})</p>
<p id="hosts">{{.Hosts}} hosts</p>
<a href="/cmf/logout">Logout</a>
</body></html>
`))

func (s *Server) handleLoginPage(w http.ResponseWriter, r *http.Request) {
	if s.samlOK && r.URL.Path == "/cmf/login" {
		http.Redirect(w, r, "/saml/login", http.StatusFound)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = loginPage.Execute(w, map[string]any{"Error": r.URL.Query().Has("error"), "SAML": s.samlOK})
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	u, p := r.PostForm.Get("j_username"), r.PostForm.Get("j_password")
	if !constantTimeEq([]byte(u), []byte(s.cfg.AdminUser)) || !constantTimeEq([]byte(p), s.cfg.AdminPassword) {
		s.log.warn("qtp-login:com.cloudera.server.web.cmf.AuthenticationFailureEventListener", fmt.Sprintf("Authentication failure for user: '%s' from %s", sanitizeLog(u), r.RemoteAddr))
		http.Redirect(w, r, "/cmf/localLogin?error", http.StatusFound)
		return
	}
	s.newSession(w, r, u, "ROLE_ADMIN")
	s.recordLogin(u, "ROLE_ADMIN", r)
	s.log.info("qtp-login:com.cloudera.server.web.cmf.AuthenticationSuccessEventListener", fmt.Sprintf("Authentication success for user: '%s' from %s", sanitizeLog(u), r.RemoteAddr))
	http.Redirect(w, r, "/cmf/home", http.StatusFound)
}

func (s *Server) handleHome(w http.ResponseWriter, r *http.Request) {
	user, role, ok := s.consoleUser(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = homePage.Execute(w, map[string]any{"User": user, "Role": strings.TrimPrefix(role, "ROLE_"), "Hosts": len(s.Hosts())})
}

var hostsPage = template.Must(template.New("hosts").Parse(`<!DOCTYPE html>
<html><head><title>Cloudera Manager - All Hosts</title></head>
<body>
<h1>All Hosts</h1>
<p id="user">Logged in as {{.User}} ({{.Role}})</p>
<ul id="hosts">{{range .Hosts}}<li>{{.Hostname}}</li>{{end}}</ul>
<a href="/cmf/home">Home</a> <a href="/cmf/logout">Logout</a>
</body></html>
`))

// handleHostsPage is Hosts > All Hosts, a console page a link can point to.
func (s *Server) handleHostsPage(w http.ResponseWriter, r *http.Request) {
	user, role, ok := s.consoleUser(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = hostsPage.Execute(w, map[string]any{"User": user, "Role": strings.TrimPrefix(role, "ROLE_"), "Hosts": s.Hosts()})
}

type samlLoginer interface {
	LoginURL(returnTo string) string
}

// consoleUser is the user of a console page request. Without a session
// the browser is sent to log in: with SAML, to the SP's login, which
// brings it back to the page it asked for once the IdP has answered (the
// RelayState of SAML 2.0 Bindings 3.4.3), so a link into the console
// survives the login.
func (s *Server) consoleUser(w http.ResponseWriter, r *http.Request) (user, role string, ok bool) {
	if se, found := s.sessionUser(r); found {
		user, role, ok = se.user, se.role, true
	} else if sp, isSP := s.samlHandler().(samlSessioner); isSP {
		user, role, ok = sp.SessionUser(r)
	}
	if ok {
		s.recordLogin(user, role, r)
		return user, role, true
	}
	target := "/cmf/login"
	if s.samlOK {
		target = "/saml/login"
		if sp, isSP := s.samlHandler().(samlLoginer); isSP {
			target = sp.LoginURL(r.URL.RequestURI())
		}
	}
	http.Redirect(w, r, target, http.StatusFound)
	return "", "", false
}
