package cmd

import (
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cmtls/cmtls/remote/inventory"
	"github.com/cmtls/cmtls/steps"
	"github.com/cmtls/cmtls/steps/answers"
)

// stepLists names the step lists of the commands that take --only and
// --skip, for their completion.
var stepLists = map[string]func() []steps.Step{
	"cmtls init":     steps.TLSSteps,
	"cmtls rollback": steps.RollbackSteps,
}

// registerCompletions adds shell completion for values cobra cannot guess:
// step ids (--only, --skip), and the hosts and inventory groups of the
// answers file given with --answers (--limit, --host).
func registerCompletions(root *cobra.Command) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, s := range c.Commands() {
			walk(s)
		}
		if list, ok := stepLists[c.CommandPath()]; ok {
			ids := stepIDs(list())
			for _, name := range []string{"only", "skip"} {
				if c.Flags().Lookup(name) != nil {
					_ = c.RegisterFlagCompletionFunc(name, completeList(ids))
				}
			}
		}
		if c.Flags().Lookup("answers") != nil {
			if c.Flags().Lookup("host") != nil {
				_ = c.RegisterFlagCompletionFunc("host", completeHosts(false))
			}
			if c.Flags().Lookup("limit") != nil {
				_ = c.RegisterFlagCompletionFunc("limit", completeHosts(true))
			}
		}
	}
	walk(root)
}

func stepIDs(ss []steps.Step) []string {
	out := make([]string, 0, len(ss))
	for _, s := range ss {
		out = append(out, s.Name()+"\t"+s.Title())
	}
	return out
}

// completeList completes a comma-separated list: the words already typed
// stay, the next one is offered from ids.
func completeList(ids []string) cobra.CompletionFunc {
	return func(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		prefix := ""
		if i := strings.LastIndexByte(toComplete, ','); i >= 0 {
			prefix = toComplete[:i+1]
		}
		var out []string
		for _, id := range ids {
			out = append(out, prefix+id)
		}
		return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
	}
}

// completeHosts offers the agent hosts of the --answers file (its hosts and
// its inventory's), and with groups the inventory's groups too.
func completeHosts(groups bool) cobra.CompletionFunc {
	return func(c *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		p, _ := c.Flags().GetString("answers")
		if p == "" {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		file, err := answers.Load(p)
		if err != nil || file.Agents == nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		seen := map[string]bool{}
		var out []string
		add := func(s, desc string) {
			if !seen[s] {
				seen[s] = true
				out = append(out, s+"\t"+desc)
			}
		}
		for _, h := range file.Agents.Hosts {
			add(h.Name, "agent host")
		}
		if file.Agents.Inventory != "" {
			if b, err := os.ReadFile(file.ExpandPath(file.Agents.Inventory)); err == nil {
				if inv, err := inventory.ParseInventory(b); err == nil {
					for _, h := range inv.Hosts {
						add(h.Name, "inventory host")
					}
					if groups {
						names := inv.GroupNames()
						sort.Strings(names)
						for _, g := range names {
							add(g, "inventory group")
						}
					}
				}
			}
		}
		prefix := ""
		if i := strings.LastIndexAny(toComplete, ",:!&"); i >= 0 {
			prefix = toComplete[:i+1]
		}
		for i := range out {
			out[i] = prefix + out[i]
		}
		return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
	}
}

// addLimitFlags gives every command that works on the agent hosts of an
// answers file (--answers) a --limit PATTERN, bound to f.Limit.
func addLimitFlags(root *cobra.Command, f *Factory) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, s := range c.Commands() {
			walk(s)
		}
		if c.Flags().Lookup("answers") != nil && c.Flags().Lookup("limit") == nil && agentCommands[c.CommandPath()] {
			c.Flags().StringVar(&f.Limit, "limit", "", "only these agent hosts: a host, an inventory group, or an Ansible pattern (agents:!rack1, rack1:&canary)")
		}
	}
	walk(root)
}

// agentCommands work on the agent hosts of the answers file. renew is not
// one on purpose: its server switch needs every agent to trust the new
// certificate first, so it never runs on a subset (--limit). saml
// configure has no agent hosts, and neither takes --only/--skip (stepLists).
var agentCommands = map[string]bool{"cmtls init": true, "cmtls rollback": true, "cmtls status": true, "cmtls agents push": true}

// limitHosts keeps the agent hosts that f.Limit selects (all when no
// --limit), with the groups of agents.inventory for group names.
func (f *Factory) limitHosts(file *answers.File, hosts []answers.AgentHost) ([]answers.AgentHost, error) {
	if strings.TrimSpace(f.Limit) == "" {
		return hosts, nil
	}
	groups := map[string][]string{}
	if a := file.Agents; a != nil && a.Inventory != "" {
		if b, err := os.ReadFile(file.ExpandPath(a.Inventory)); err == nil {
			if inv, err := inventory.ParseInventory(b); err == nil {
				for _, h := range inv.Hosts {
					groups[h.Name] = h.Groups
				}
			}
		}
	}
	ih := make([]inventory.Host, len(hosts))
	for i, h := range hosts {
		ih[i] = inventory.Host{Name: h.Name, Groups: groups[h.Name]}
	}
	sel, err := inventory.Limit(ih, f.Limit)
	if err != nil {
		return nil, usageErrorf("give --limit a host, a group of agents.inventory, or a pattern of them (see --help)", "--limit: %v", err)
	}
	keep := map[string]bool{}
	for _, h := range sel {
		keep[h.Name] = true
	}
	var out []answers.AgentHost
	for _, h := range hosts {
		if keep[h.Name] {
			out = append(out, h)
		}
	}
	return out, nil
}
