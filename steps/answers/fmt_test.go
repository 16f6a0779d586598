package answers

import "fmt"

var fmtSprintf = fmt.Sprintf
