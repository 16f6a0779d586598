package samlsp

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"sync"
	"time"

	"github.com/crewjam/saml"
)

// Caps on server-side state. Only verified assertions enter the replay
// cache and only started logins enter the pending table, but both are
// bounded anyway; when full after pruning we refuse (fail closed).
const (
	maxSessions = 20000
	maxPending  = 20000
	maxSeen     = 200000
	// pendingTTL is how long a started login may take at the IdP.
	pendingTTL = 15 * time.Minute
)

var errStateFull = errors.New("too many pending logins or sessions; try again later")

// Session is a logged-in user. It lives on the server: logout and an IdP
// LogoutRequest end it for good (crewjam's samlsp JWT cookies cannot be
// revoked).
type Session struct {
	ID           string
	UserID       string
	Role         Role
	NameID       saml.NameID
	SessionIndex string
	Created      time.Time
	Expires      time.Time
}

// pendingAuthn is a login this SP started, kept on the server under the
// RelayState token it sent, so the answer can be matched without any
// cookie surviving the IdP's cross-site POST.
type pendingAuthn struct {
	requestID string // the AuthnRequest ID
	track     string // the starting browser's tracking cookie value
	returnTo  string // local path to go to afterwards (the deep link)
	// priorSession is the session the browser had when it started this
	// login: the new login ends it.
	priorSession string
	expires      time.Time
}

// completion is a verified login waiting for the browser to come back with
// its cookies (a cross-site POST carries none over plain HTTP) or for the
// user to confirm replacing another user's session.
type completion struct {
	login
	// confirmFor is the live session the user must confirm replacing;
	// empty before the browser has been seen.
	confirmFor string
	expires    time.Time
}

type store struct {
	mu       sync.Mutex
	sessions map[string]*Session
	authn    map[string]pendingAuthn // by RelayState token
	done     map[string]*completion  // by continuation token
	logout   map[string]time.Time    // our LogoutRequest IDs
	seen     map[string]time.Time    // replay cache: message/assertion IDs
}

func newStore() *store {
	return &store{
		sessions: map[string]*Session{},
		authn:    map[string]pendingAuthn{},
		done:     map[string]*completion{},
		logout:   map[string]time.Time{},
		seen:     map[string]time.Time{},
	}
}

func randomID() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error since Go 1.24
	return base64.RawURLEncoding.EncodeToString(b)
}

func pruneTimes(m map[string]time.Time, now time.Time) {
	for k, exp := range m {
		if !now.Before(exp) {
			delete(m, k)
		}
	}
}

func (s *store) addPending(id string, p pendingAuthn, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.authn) >= maxPending {
		for k, v := range s.authn {
			if !now.Before(v.expires) {
				delete(s.authn, k)
			}
		}
	}
	// Anyone can start logins, so a full table must not lock everyone
	// out: drop arbitrary (map order) pending logins to make room. A
	// dropped login only has to be started again.
	for k := range s.authn {
		if len(s.authn) < maxPending {
			break
		}
		delete(s.authn, k)
	}
	s.authn[id] = p
	return nil
}

// takePending removes and returns the pending login started with RelayState
// relay if it is still valid and was started with AuthnRequest requestID.
// A mismatch leaves the entry alone (the real answer may still arrive).
func (s *store) takePending(relay, requestID string, now time.Time) (pendingAuthn, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.authn[relay]
	if !ok || relay == "" || p.requestID != requestID {
		return pendingAuthn{}, false
	}
	delete(s.authn, relay)
	if !now.Before(p.expires) {
		return pendingAuthn{}, false
	}
	return p, true
}

// markSeen records ids until exp; it fails if any was seen before.
func (s *store) markSeen(ids []string, exp, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		if e, ok := s.seen[id]; ok && now.Before(e) {
			return errors.New("message ID " + id + " was already used (replay)")
		}
	}
	if len(s.seen)+len(ids) > maxSeen {
		pruneTimes(s.seen, now)
		if len(s.seen)+len(ids) > maxSeen {
			return errStateFull
		}
	}
	for _, id := range ids {
		s.seen[id] = exp
	}
	return nil
}

func (s *store) addSession(sess *Session, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.sessions) >= maxSessions {
		for k, v := range s.sessions {
			if !now.Before(v.Expires) {
				delete(s.sessions, k)
			}
		}
		if len(s.sessions) >= maxSessions {
			return errStateFull
		}
	}
	s.sessions[sess.ID] = sess
	return nil
}

func (s *store) session(id string, now time.Time) (*Session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.sessions[id]
	if !ok {
		return nil, false
	}
	if !now.Before(sess.Expires) {
		delete(s.sessions, id)
		return nil, false
	}
	c := *sess
	return &c, true
}

func (s *store) deleteSession(id string) (*Session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.sessions[id]
	delete(s.sessions, id)
	return sess, ok
}

// endSessions removes every session of nameID (and sessionIndex, when the
// IdP names one) and returns how many ended.
func (s *store) endSessions(nameID, sessionIndex string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, v := range s.sessions {
		if v.NameID.Value == nameID && (sessionIndex == "" || v.SessionIndex == sessionIndex) {
			delete(s.sessions, k)
			n++
		}
	}
	return n
}

func (s *store) addLogout(id string, exp time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.logout) >= maxPending {
		pruneTimes(s.logout, exp.Add(-pendingTTL))
	}
	if len(s.logout) < maxPending {
		s.logout[id] = exp
	}
}

func (s *store) takeLogout(id string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.logout[id]
	delete(s.logout, id)
	return ok && now.Before(exp)
}

// sessionCount is for tests and status pages.
func (s *store) sessionCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// addCompletion keeps c under a new unguessable token for a short while.
func (s *store) addCompletion(c *completion, now time.Time) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.done) >= maxPending {
		for k, v := range s.done {
			if !now.Before(v.expires) {
				delete(s.done, k)
			}
		}
		if len(s.done) >= maxPending {
			return "", errStateFull
		}
	}
	token := randomID()
	s.done[token] = c
	return token, nil
}

// takeCompletion removes and returns the completion under token if valid.
func (s *store) takeCompletion(token string, now time.Time) (*completion, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.done[token]
	delete(s.done, token)
	if !ok || !now.Before(c.expires) {
		return nil, false
	}
	return c, true
}
