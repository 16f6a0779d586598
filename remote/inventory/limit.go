package inventory

import (
	"fmt"
	"path"
	"strings"
)

// Inventory is a parsed inventory: its hosts in order and its groups.
type Inventory struct {
	Hosts []Host
}

// ParseInventory is Parse with the groups kept for patterns.
func ParseInventory(b []byte) (*Inventory, error) {
	hs, err := Parse(b)
	if err != nil {
		return nil, err
	}
	return &Inventory{Hosts: hs}, nil
}

// GroupNames lists the groups that have hosts (not "all").
func (v *Inventory) GroupNames() []string {
	seen := map[string]bool{}
	var out []string
	for _, h := range v.Hosts {
		for _, g := range h.Groups {
			if !seen[g] {
				seen[g] = true
				out = append(out, g)
			}
		}
	}
	return out
}

// maxPatternTerms bounds a --limit pattern (it comes from a command line).
const maxPatternTerms = 1000

// Limit returns the hosts a pattern selects, in inventory order, with
// Ansible's pattern syntax (Ansible documentation, "Patterns: targeting
// hosts and groups"): terms separated by ":" or "," (use "," when a term
// holds a ":", as IPv6 addresses do); a term is a host, a group, "all",
// "*" or a shell-style glob ("agent*"); "&term" keeps only hosts also in
// term, "!term" drops the hosts in term. Ansible applies the plain terms
// first, then the intersections, then the exclusions, whatever the order
// they are written in; so does Limit. A plain term that matches nothing is
// an error: a typo must not quietly shrink or empty a run.
func Limit(hosts []Host, pattern string) ([]Host, error) {
	pattern = strings.TrimSpace(pattern)
	if pattern == "" {
		return hosts, nil
	}
	sep := ":"
	if strings.Contains(pattern, ",") {
		sep = ","
	}
	terms := strings.Split(pattern, sep)
	if len(terms) > maxPatternTerms {
		return nil, fmt.Errorf("the pattern has %d terms; at most %d", len(terms), maxPatternTerms)
	}
	var plain, and, not []string
	for _, t := range terms {
		t = strings.TrimSpace(t)
		switch {
		case t == "":
			return nil, fmt.Errorf("an empty term in %q", pattern)
		case strings.HasPrefix(t, "!"):
			not = append(not, t[1:])
		case strings.HasPrefix(t, "&"):
			and = append(and, t[1:])
		default:
			plain = append(plain, t)
		}
	}
	for _, t := range append(append(append([]string(nil), plain...), and...), not...) {
		if t == "" {
			return nil, fmt.Errorf("%q: a ! or & needs a name after it", pattern)
		}
		if _, err := path.Match(t, ""); err != nil {
			return nil, fmt.Errorf("%q is not a valid pattern: %v", t, err)
		}
	}
	if len(plain) == 0 {
		plain = []string{"all"} // "!x" alone means all but x, as in Ansible
	}
	sel := make([]bool, len(hosts))
	for _, t := range plain {
		n := 0
		for i, h := range hosts {
			if matches(h, t) {
				sel[i] = true
				n++
			}
		}
		if n == 0 {
			return nil, fmt.Errorf("%q matches no host or group of the inventory", t)
		}
	}
	for _, t := range and {
		for i, h := range hosts {
			if sel[i] && !matches(h, t) {
				sel[i] = false
			}
		}
	}
	for _, t := range not {
		for i, h := range hosts {
			if matches(h, t) {
				sel[i] = false
			}
		}
	}
	var out []Host
	for i, h := range hosts {
		if sel[i] {
			out = append(out, h)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%q leaves no host", pattern)
	}
	return out, nil
}

// matches reports whether term names h: "all" or "*", its name, one of its
// groups, or a glob over the name or a group.
func matches(h Host, term string) bool {
	if term == "all" || term == "*" || term == h.Name {
		return true
	}
	if term == "ungrouped" && len(h.Groups) == 0 {
		return true
	}
	glob := strings.ContainsAny(term, "*?[")
	if glob {
		if ok, _ := path.Match(term, h.Name); ok {
			return true
		}
	}
	for _, g := range h.Groups {
		if g == term {
			return true
		}
		if glob {
			if ok, _ := path.Match(term, g); ok {
				return true
			}
		}
	}
	return false
}

// ansibleBool reads a boolean as Ansible's inventory does.
func ansibleBool(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "yes", "on", "1", "y", "t":
		return true, true
	case "false", "no", "off", "0", "n", "f":
		return false, true
	}
	return false, false
}
