// Command cmtls takes a Cloudera Manager cluster to TLS level 2 and SAML
// single sign-on, end to end, and proves that it worked.
package main

import (
	"os"

	"github.com/cmtls/cmtls/cmd"
)

func main() {
	os.Exit(cmd.Main())
}
