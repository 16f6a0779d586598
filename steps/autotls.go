package steps

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/cmtls/cmtls/remote"
	"github.com/cmtls/cmtls/remote/cmapi"
)

// settingAutoTLSType is CM 7's Auto-TLS switch: NONE (or unset) unless CM
// issues and rotates the cluster's certificates itself.
const settingAutoTLSType = "AUTO_TLS_TYPE"

// AutoTLSFix names what to do on an Auto-TLS cluster instead.
const AutoTLSFix = "this cluster's certificates are managed by Cloudera Manager's Auto-TLS: rotate them with Auto-TLS " +
	"(Cloudera \"Rotate Auto-TLS Certificates\": Administration > Security > Rotate Auto-TLS Certificates, or the API's " +
	"POST /cm/commands/generateCmca), not with the manual procedure"

// refuseAutoTLS refuses manual TLS level 2 on a cluster where CM's Auto-TLS
// manages the certificates: the manual keystore and agent settings would
// fight CM's own. The reasons are CM's AUTO_TLS_TYPE setting, or agents
// holding Auto-TLS files in lib_dir/agent-cert/.
func (e *Env) refuseAutoTLS(ctx context.Context, cfg []cmapi.ConfigItem) error {
	var why []string
	if it, _ := cmapi.FindByName(cfg, settingAutoTLSType); it.Value != "" && !strings.EqualFold(it.Value, "NONE") {
		why = append(why, fmt.Sprintf("CM's %s is %s", settingAutoTLSType, it.Value))
	}
	// one short command per host, all hosts at once
	agents := e.live()
	found := make([]string, len(agents))
	FanOut(ctx, agents, e.parallelism(), func(ctx context.Context, a *Agent) error {
		if a.Host == nil {
			return nil
		}
		dir := DefaultAgentLibDir
		if ini := e.Facts().Agent(a.Name).INI; ini != nil && ini.LibDir != "" {
			dir = ini.LibDir
		}
		dir = path.Join(dir, "agent-cert")
		res, err := a.Host.Run(ctx, "ls -A -- "+remote.Quote(dir)+" 2>/dev/null | head -n 3", nil)
		if err != nil || res.Code != 0 {
			return nil
		}
		if files := strings.Fields(string(res.Stdout)); len(files) > 0 {
			found[slices.Index(agents, a)] = fmt.Sprintf("%s has Auto-TLS files in %s (%s)", a.Name, dir, strings.Join(files, ", "))
		}
		return nil
	})
	for _, f := range found {
		if f != "" {
			why = append(why, f)
		}
	}
	if len(why) == 0 {
		return nil
	}
	return &InputError{Err: fmt.Errorf("manual TLS level 2 refused on an Auto-TLS cluster: %s; nothing was changed", strings.Join(why, "; ")), Fix: AutoTLSFix}
}
