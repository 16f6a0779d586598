// Package cmd holds the cobra command tree of cmtls and the one place where
// errors become exit codes (exit.go).
//
// Commands are thin: they parse flags into an options struct, build the
// dependencies from the Factory and call into steps, pki, remote or daemon.
// No business rules live here.
package cmd
