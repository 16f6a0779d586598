package saml

import (
	"context"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/cmtls/cmtls/steps"
	"github.com/cmtls/cmtls/steps/answers"
)

// Step ids (events, JSON).
const (
	StepValidate = "saml-validate"
	StepSettings = "saml-settings"
	StepRoles    = "saml-roles"
	StepRestart  = "saml-restart"
	StepIdP      = "saml-idp"
	StepVerify   = "saml-verify"

	titleValidate = "Configuring CM, step 13: validate the metadata, keystore, passwords and script"
	titleSettings = "Configuring CM, steps 3-12: SAML settings through the CM API"
	titleRoles    = "Configuring CM, step 12: admin and user roles"
	titleRestart  = "Configuring CM, step 14: restart the CM server"
	titleIdP      = "Configuring the IDP: SP metadata, URLs, what the IdP needs"
	titleVerify   = "Verifying: login redirects to the IdP; test logins"
)

// DefaultServerTimeout bounds the wait for CM after a restart: a real CM
// server takes one to five minutes to answer again.
const DefaultServerTimeout = 5 * time.Minute

// Deps is what the SAML steps need besides the runner's steps.Env (the
// answers, the server host that runs server.restart_command, the reporter
// and the clock).
type Deps struct {
	API API
	// HTTP reaches the CM console and the IdP (nil: a default client). The
	// steps never let it follow redirects on its own; they clone it.
	HTTP *http.Client
	// Resolver resolves the metadata's host names (nil: net.DefaultResolver).
	Resolver interface {
		LookupHost(ctx context.Context, host string) ([]string, error)
	}
	// MetadataOut is where CM's SP metadata is saved ("Configuring the
	// IDP" 1); default DIR-of-answers/cm-saml-metadata.xml.
	MetadataOut string
	// StatePath records what configure changed, for `saml rollback`;
	// default DIR-of-answers/cmtls-saml-state.json.
	StatePath string
	// PollInterval is the pause between polls of a restarting server
	// (default 500ms).
	PollInterval time.Duration
}

// Result is what a configure run found and did beyond the runner's own
// result: where the SP metadata went, what the IdP needs, the test logins.
type Result struct {
	// RoleModel is how this CM maps SAML users to roles: "settings" (the
	// SAML Attribute Values for ROLE_* settings) or "externalUserMappings".
	RoleModel string `json:"roleModel,omitempty"`
	Restarted bool   `json:"restarted"`
	Metadata  string `json:"spMetadata,omitempty"`
	// ForIdP is what the IdP administrator needs ("Configuring the IDP" 3-5).
	ForIdP []string `json:"forIdP,omitempty"`
	// LoginsVerified is true only when test logins ran and each ended as
	// expected.
	LoginsVerified bool          `json:"loginsVerified"`
	Logins         []LoginResult `json:"logins,omitempty"`
	// StateFile is where configure recorded the values it replaced.
	StateFile string `json:"stateFile,omitempty"`
}

// LoginResult is one test login: how CM says it ended.
type LoginResult struct {
	User   string `json:"user"`
	Expect string `json:"expect"`
	Got    string `json:"got"`
	OK     bool   `json:"ok"`
}

// JSONResult is the runner's JSON result with the SAML outcome.
type JSONResult struct {
	steps.JSONResult
	Result *Result `json:"result"`
}

// Procedure is one run of `saml configure` or `saml rollback`: its steps
// share the dependencies and what their plans found (which role model CM
// has, which settings change), and fill Result.
type Procedure struct {
	deps   Deps
	Result Result

	mu       sync.Mutex
	model    string // "" until detected
	mappings []ExternalUserMapping
	idp      *IdP
	settings []Setting       // settings the plan changes
	roles    []mappingChange // mappings the plan creates or updates
	undo     *rollbackPlan   // what a rollback restores
	restart  bool            // the plan restarts the server
}

// New returns the procedure over d.
func New(d Deps) *Procedure { return &Procedure{deps: d} }

// NewSteps returns the steps of `saml configure` in order.
func NewSteps(d Deps) []steps.Step { return New(d).Steps() }

// Steps are configure's steps: validate, settings, roles, restart, IdP,
// verify.
func (p *Procedure) Steps() []steps.Step {
	return []steps.Step{
		&step{StepValidate, titleValidate, p.planValidate, nil, p.verifyValidate},
		&step{StepSettings, titleSettings, p.planSettings, p.applySettings, p.verifySettings},
		&step{StepRoles, titleRoles, p.planRoles, p.applyRoles, p.verifyRoles},
		&step{StepRestart, titleRestart, p.planRestart, p.applyRestart, p.verifyRestart},
		&step{StepIdP, titleIdP, noPlan, nil, p.verifyIdP},
		&step{StepVerify, titleVerify, noPlan, nil, p.verifyLogins},
	}
}

// step is a steps.Step made of the procedure's functions.
type step struct {
	name, title string
	plan        func(context.Context, *steps.Env) (steps.Change, error)
	apply       func(context.Context, *steps.Env) error
	verify      func(context.Context, *steps.Env) error
}

func (s *step) Name() string  { return s.name }
func (s *step) Title() string { return s.title }
func (s *step) Plan(ctx context.Context, env *steps.Env) (steps.Change, error) {
	return s.plan(ctx, env)
}
func (s *step) Apply(ctx context.Context, env *steps.Env) error {
	if s.apply == nil {
		return nil
	}
	return s.apply(ctx, env)
}
func (s *step) Verify(ctx context.Context, env *steps.Env) error {
	if s.verify == nil {
		return nil
	}
	return s.verify(ctx, env)
}

// noPlan is the plan of a step that changes nothing on CM: its work is
// done (and proven) in Verify.
func noPlan(context.Context, *steps.Env) (steps.Change, error) { return steps.Change{}, nil }

// report sends one event for step; events carry no secrets.
func report(env *steps.Env, ev steps.Event) {
	if env.Reporter == nil {
		return
	}
	if ev.Time.IsZero() {
		ev.Time = now(env)
	}
	if ev.Title == "" {
		ev.Title = titles[ev.Step]
	}
	env.Reporter.Report(ev)
}

var titles = map[string]string{
	StepValidate: titleValidate, StepSettings: titleSettings, StepRoles: titleRoles, StepRestart: titleRestart,
	StepIdP: titleIdP, StepVerify: titleVerify,
	StepRollbackSettings: titleRollbackSettings, StepRollbackRestart: titleRollbackRestart, StepRollbackVerify: titleRollbackVerify,
}

func progress(env *steps.Env, step, detail string) {
	report(env, steps.Event{Step: step, Phase: steps.PhaseVerify, Status: steps.StatusProgress, Detail: detail})
}

func now(env *steps.Env) time.Time {
	if env.Now != nil {
		return env.Now()
	}
	return time.Now()
}

// httpClient is Deps.HTTP (or a default) that does not follow redirects.
func (p *Procedure) httpClient() *http.Client {
	c := &http.Client{Timeout: 15 * time.Second}
	if p.deps.HTTP != nil {
		cc := *p.deps.HTTP
		c = &cc
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}

func (p *Procedure) transport() http.RoundTripper {
	if p.deps.HTTP != nil {
		return p.deps.HTTP.Transport
	}
	return nil
}

func (p *Procedure) statePath(f *answers.File) string {
	if p.deps.StatePath != "" {
		return p.deps.StatePath
	}
	return filepath.Join(f.Dir, "cmtls-saml-state.json")
}

func (p *Procedure) serverTimeout(f *answers.File) time.Duration {
	if f.SAML != nil && f.SAML.ServerTimeout > 0 {
		return f.SAML.ServerTimeout.D()
	}
	return DefaultServerTimeout
}

func (p *Procedure) pollInterval() time.Duration {
	if p.deps.PollInterval > 0 {
		return p.deps.PollInterval
	}
	return 500 * time.Millisecond
}
