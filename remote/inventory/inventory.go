package inventory

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Host is one inventory host with its connection variables resolved
// (host vars over group vars, a child group over its parent, "all" last).
type Host struct {
	Name    string
	Address string // ansible_host; "" = the name
	Port    int    // ansible_port; 0 = not set
	User    string // ansible_user; "" = not set
	Groups  []string
	Line    int // where it was first seen (INI only)
	// IdentityFile is ansible_ssh_private_key_file (or
	// ansible_private_key_file); "" = not set.
	IdentityFile string
	// Become is ansible_become; BecomeUser and BecomePassword are
	// ansible_become_user and ansible_become_password (ansible_become_pass,
	// ansible_sudo_pass). The password is a secret: never print it.
	Become         bool
	BecomeUser     string
	BecomePassword string
	// BecomeSet says ansible_become was given (true or false), so that a
	// host's "false" can turn off the answers file's become.
	BecomeSet bool
	// BecomePasswordEnv is the environment variable named by a password
	// given as {{ lookup('env', 'NAME') }}; BecomePassword is then "".
	BecomePasswordEnv string
}

// Error is a problem in the inventory at a line.
type Error struct {
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	}
	return e.Msg
}

type group struct {
	hosts    []string
	vars     map[string]string
	children []string
}

type inv struct {
	groups    map[string]*group
	hostVars  map[string]map[string]string
	order     []string
	firstLine map[string]int
}

func newInv() *inv {
	return &inv{groups: map[string]*group{}, hostVars: map[string]map[string]string{}, firstLine: map[string]int{}}
}

func (v *inv) group(name string) *group {
	g := v.groups[name]
	if g == nil {
		g = &group{vars: map[string]string{}}
		v.groups[name] = g
	}
	return g
}

// canon maps Ansible's old connection variable names to the current ones,
// per layer, so that a host's ansible_ssh_user beats a group's ansible_user.
func canon(k string) string {
	switch k {
	case "ansible_ssh_host":
		return "ansible_host"
	case "ansible_ssh_port":
		return "ansible_port"
	case "ansible_ssh_user":
		return "ansible_user"
	case "ansible_private_key_file":
		return "ansible_ssh_private_key_file"
	case "ansible_become_pass", "ansible_sudo_pass", "ansible_ssh_pass_become":
		return "ansible_become_password"
	}
	return k
}

func (v *inv) addHost(g, name string, vars map[string]string, line int) {
	if _, ok := v.hostVars[name]; !ok {
		v.hostVars[name] = map[string]string{}
		v.order = append(v.order, name)
		v.firstLine[name] = line
	}
	for k, val := range vars {
		v.hostVars[name][canon(k)] = val
	}
	gr := v.group(g)
	for _, h := range gr.hosts {
		if h == name {
			return
		}
	}
	gr.hosts = append(gr.hosts, name)
}

// Parse reads an inventory, YAML when it looks like YAML (a top-level
// mapping such as "all:"), INI otherwise.
func Parse(b []byte) ([]Host, error) {
	var hosts []Host
	var err error
	if looksYAML(b) {
		hosts, err = ParseYAML(b)
	} else {
		hosts, err = ParseINI(b)
	}
	if err == nil && len(hosts) == 0 {
		return nil, &Error{Msg: "the inventory lists no hosts"}
	}
	return hosts, err
}

func looksYAML(b []byte) bool {
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		t := strings.TrimSpace(sc.Text())
		if t == "" || strings.HasPrefix(t, "#") || strings.HasPrefix(t, ";") || t == "---" {
			continue
		}
		return !strings.HasPrefix(t, "[") && strings.HasSuffix(strings.SplitN(t, " #", 2)[0], ":")
	}
	return false
}

// ParseINI reads Ansible's INI inventory format.
func ParseINI(b []byte) ([]Host, error) {
	if bytes.IndexByte(b, 0) >= 0 {
		return nil, &Error{Msg: "not a text file"}
	}
	v := newInv()
	cur, kind := "ungrouped", "hosts"
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		t := strings.TrimSpace(sc.Text())
		if t == "" || t[0] == '#' || t[0] == ';' {
			continue
		}
		if t[0] == '[' {
			end := strings.IndexByte(t, ']')
			if end < 0 {
				return nil, &Error{Line: n, Msg: fmt.Sprintf("unterminated group header %q", t)}
			}
			name := t[1:end]
			cur, kind = name, "hosts"
			if i := strings.IndexByte(name, ':'); i >= 0 {
				cur, kind = name[:i], name[i+1:]
				if kind != "vars" && kind != "children" {
					return nil, &Error{Line: n, Msg: fmt.Sprintf("unknown section kind %q (use :vars or :children)", kind)}
				}
			}
			if cur == "" {
				return nil, &Error{Line: n, Msg: "empty group name"}
			}
			v.group(cur)
			continue
		}
		switch kind {
		case "vars":
			k, val, ok := strings.Cut(t, "=")
			if !ok {
				return nil, &Error{Line: n, Msg: fmt.Sprintf("expected key=value in [%s:vars], got %q", cur, t)}
			}
			v.group(cur).vars[canon(strings.TrimSpace(k))] = unquote(strings.TrimSpace(val))
		case "children":
			v.group(cur).children = append(v.group(cur).children, strings.Fields(t)[0])
			v.group(strings.Fields(t)[0])
		default:
			fields, err := splitFields(t)
			if err != nil {
				return nil, &Error{Line: n, Msg: err.Error()}
			}
			vars := map[string]string{}
			for _, f := range fields[1:] {
				k, val, ok := strings.Cut(f, "=")
				if !ok {
					return nil, &Error{Line: n, Msg: fmt.Sprintf("expected key=value after the host name, got %q", f)}
				}
				vars[k] = unquote(val)
			}
			names, err := expandRange(fields[0])
			if err != nil {
				return nil, &Error{Line: n, Msg: err.Error()}
			}
			for _, h := range names {
				v.addHost(cur, h, vars, n)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, &Error{Line: n + 1, Msg: err.Error()}
	}
	return v.resolve()
}

// splitFields splits on blanks, keeping quoted parts together.
func splitFields(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	var q byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case q != 0:
			if c == q {
				q = 0
			}
			cur.WriteByte(c)
		case c == '"' || c == '\'':
			q = c
			cur.WriteByte(c)
		case c == ' ' || c == '\t':
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
		case c == '#' && cur.Len() == 0:
			i = len(s) // a comment
		default:
			cur.WriteByte(c)
		}
	}
	if q != 0 {
		return nil, fmt.Errorf("unterminated quote in %q", s)
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	if len(out) == 0 {
		return nil, errors.New("empty host line")
	}
	return out, nil
}

func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}

// maxRange bounds what one host pattern may expand to.
const maxRange = 10000

// expandRange expands one [a:b] or [a:b:step] numeric or [a:z] letter range
// (Ansible allows several; each is expanded in turn).
func expandRange(p string) ([]string, error) {
	i := strings.IndexByte(p, '[')
	if i < 0 {
		if strings.IndexByte(p, ']') >= 0 {
			return nil, fmt.Errorf("bad host pattern %q", p)
		}
		return []string{p}, nil
	}
	j := strings.IndexByte(p[i:], ']')
	if j < 0 {
		return nil, fmt.Errorf("bad host range %q: missing ]", p)
	}
	j += i
	parts := strings.Split(p[i+1:j], ":")
	if len(parts) < 2 || len(parts) > 3 {
		return nil, fmt.Errorf("bad host range %q: use [01:10] or [a:f]", p)
	}
	step := 1
	if len(parts) == 3 {
		s, err := strconv.Atoi(parts[2])
		if err != nil || s < 1 {
			return nil, fmt.Errorf("bad step in host range %q", p)
		}
		step = s
	}
	var items []string
	lo, err1 := strconv.Atoi(parts[0])
	hi, err2 := strconv.Atoi(parts[1])
	switch {
	case err1 == nil && err2 == nil:
		if hi < lo || (hi-lo)/step >= maxRange {
			return nil, fmt.Errorf("bad host range %q", p)
		}
		width := 0
		if len(parts[0]) > 1 && parts[0][0] == '0' {
			width = len(parts[0])
		}
		for n := lo; n <= hi; n += step {
			items = append(items, fmt.Sprintf("%0*d", width, n))
		}
	case len(parts[0]) == 1 && len(parts[1]) == 1 && parts[0][0] >= 'a' && parts[1][0] <= 'z' && parts[0][0] <= parts[1][0]:
		for c := parts[0][0]; c <= parts[1][0]; c += byte(step) {
			items = append(items, string(c))
			if int(c)+step > 'z' {
				break
			}
		}
	default:
		return nil, fmt.Errorf("bad host range %q", p)
	}
	var out []string
	for _, it := range items {
		rest, err := expandRange(p[j+1:])
		if err != nil {
			return nil, err
		}
		for _, r := range rest {
			out = append(out, p[:i]+it+r)
			if len(out) > maxRange {
				return nil, fmt.Errorf("host range %q expands to more than %d hosts", p, maxRange)
			}
		}
	}
	return out, nil
}

// ParseYAML reads Ansible's YAML inventory format.
func ParseYAML(b []byte) ([]Host, error) {
	var root map[string]*yamlGroup
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, &Error{Msg: fmt.Sprintf("yaml: %v", err)}
	}
	v := newInv()
	var walk func(name string, g *yamlGroup, depth int) error
	walk = func(name string, g *yamlGroup, depth int) error {
		if depth > 50 {
			return &Error{Msg: "groups nested too deeply"}
		}
		gr := v.group(name)
		if g == nil {
			return nil
		}
		for k, val := range g.Vars {
			gr.vars[canon(k)] = scalar(val)
		}
		hosts := make([]string, 0, len(g.Hosts))
		for h := range g.Hosts {
			hosts = append(hosts, h)
		}
		sort.Strings(hosts) // YAML maps have no order worth keeping
		for _, h := range hosts {
			vars := map[string]string{}
			for k, val := range g.Hosts[h] {
				vars[k] = scalar(val)
			}
			names, err := expandRange(h)
			if err != nil {
				return &Error{Msg: err.Error()}
			}
			for _, n := range names {
				v.addHost(name, n, vars, 0)
			}
		}
		children := make([]string, 0, len(g.Children))
		for c := range g.Children {
			children = append(children, c)
		}
		sort.Strings(children)
		for _, c := range children {
			gr.children = append(gr.children, c)
			if err := walk(c, g.Children[c], depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	names := make([]string, 0, len(root))
	for n := range root {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := walk(n, root[n], 0); err != nil {
			return nil, err
		}
	}
	return v.resolve()
}

type yamlGroup struct {
	Hosts    map[string]map[string]any `yaml:"hosts"`
	Vars     map[string]any            `yaml:"vars"`
	Children map[string]*yamlGroup     `yaml:"children"`
}

func scalar(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	default:
		return fmt.Sprint(x)
	}
}

// resolve applies group vars to hosts: "all" first, then parents before
// children (so a child group wins), then the host's own vars.
func (v *inv) resolve() ([]Host, error) {
	parents := map[string][]string{}
	for name, g := range v.groups {
		for _, c := range g.children {
			parents[c] = append(parents[c], name)
		}
	}
	// the groups of each host, with their depth (distance from "all")
	depth := map[string]int{}
	var depthOf func(g string, seen map[string]bool) int
	depthOf = func(g string, seen map[string]bool) int {
		if d, ok := depth[g]; ok {
			return d
		}
		if seen[g] {
			return 0 // a cycle: Ansible refuses it too; treat as top level
		}
		seen[g] = true
		d := 0
		for _, p := range parents[g] {
			if pd := depthOf(p, seen) + 1; pd > d {
				d = pd
			}
		}
		depth[g] = d
		return d
	}
	var out []Host
	for _, name := range v.order {
		groups := map[string]bool{}
		var add func(g string)
		add = func(g string) {
			if groups[g] {
				return
			}
			groups[g] = true
			for _, p := range parents[g] {
				add(p)
			}
		}
		for gname, g := range v.groups {
			for _, h := range g.hosts {
				if h == name {
					add(gname)
				}
			}
		}
		gl := make([]string, 0, len(groups))
		for g := range groups {
			gl = append(gl, g)
		}
		sort.Slice(gl, func(i, j int) bool {
			di, dj := depthOf(gl[i], map[string]bool{}), depthOf(gl[j], map[string]bool{})
			if di != dj {
				return di < dj
			}
			return gl[i] < gl[j]
		})
		vars := map[string]string{}
		for k, val := range v.groups["all"].varsOrNil() {
			vars[k] = val
		}
		for _, g := range gl {
			if g == "all" {
				continue
			}
			for k, val := range v.groups[g].vars {
				vars[k] = val
			}
		}
		for k, val := range v.hostVars[name] {
			vars[k] = val
		}
		h := Host{Name: name, Line: v.firstLine[name]}
		for _, g := range gl {
			if g != "all" && g != "ungrouped" {
				h.Groups = append(h.Groups, g)
			}
		}
		h.Address = vars["ansible_host"]
		h.User = vars["ansible_user"]
		h.IdentityFile = vars["ansible_ssh_private_key_file"]
		h.BecomeUser = vars["ansible_become_user"]
		if pw := vars["ansible_become_password"]; pw != "" {
			env, plain, err := passwordSource(pw)
			if err != nil {
				return nil, &Error{Line: h.Line, Msg: fmt.Sprintf("host %s: ansible_become_password: %v", name, err)}
			}
			h.BecomePasswordEnv, h.BecomePassword = env, plain
		}
		if m := vars["ansible_become_method"]; m != "" && m != "sudo" {
			return nil, &Error{Line: h.Line, Msg: fmt.Sprintf("host %s: ansible_become_method %q is not supported (cmtls becomes root through sudo only)", name, m)}
		}
		if b := vars["ansible_become"]; b != "" {
			on, ok := ansibleBool(b)
			if !ok {
				return nil, &Error{Line: h.Line, Msg: fmt.Sprintf("host %s: ansible_become %q is not a boolean (use true or false)", name, b)}
			}
			h.Become, h.BecomeSet = on, true
		}
		if p := vars["ansible_port"]; p != "" {
			n, err := strconv.Atoi(p)
			if err != nil || n < 1 || n > 65535 {
				return nil, &Error{Line: h.Line, Msg: fmt.Sprintf("host %s: ansible_port %q is not a TCP port", name, p)}
			}
			h.Port = n
		}
		out = append(out, h)
	}
	return out, nil
}

func (g *group) varsOrNil() map[string]string {
	if g == nil {
		return nil
	}
	return g.vars
}

// envLookupRE is the one template cmtls reads in an inventory: Ansible's
// env lookup plugin, {{ lookup('env', 'NAME') }}, which keeps a password
// out of the file.
var envLookupRE = regexp.MustCompile(`^\{\{\s*lookup\(\s*['"]env['"]\s*,\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]\s*\)\s*\}\}$`)

// passwordSource reads a become password value: the name of an environment
// variable (the env lookup), or the password in plain text. Vault-encrypted
// values and other templates are refused: cmtls neither decrypts vaults nor
// evaluates Jinja2.
func passwordSource(v string) (env, plain string, err error) {
	t := strings.TrimSpace(v)
	if m := envLookupRE.FindStringSubmatch(t); m != nil {
		return m[1], "", nil
	}
	if strings.HasPrefix(t, "$ANSIBLE_VAULT") {
		return "", "", errors.New("a vault-encrypted value cannot be read; use {{ lookup('env', 'NAME') }} and export NAME")
	}
	if strings.Contains(t, "{{") || strings.Contains(t, "{%") {
		return "", "", errors.New("templates are not evaluated, except {{ lookup('env', 'NAME') }}")
	}
	return "", v, nil
}
