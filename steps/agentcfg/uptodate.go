package agentcfg

import (
	"bytes"

	"github.com/cmtls/cmtls/steps/ini"
)

// UpToDate reports whether a host whose config.ini, PEM at PEMDest and
// restart marker were read as given already holds what Apply would write,
// with no restart owed: Plan would find nothing to do. A caller that read
// these files anyway (in one command with others) can so leave such a host
// alone without a second read.
func (s Spec) UpToDate(config []byte, pem []byte, pemExists, pending bool) bool {
	if pending || !pemExists || !bytes.Equal(pem, s.PEM) || !ini.HasSection(config, Section) {
		return false
	}
	_, changed, _, err := ini.Set(config, Section, s.kvs())
	return err == nil && !changed
}
