// Package answers reads the answers file of the contract (CONTRACT.md
// "Answers file"): strict YAML (unknown key, duplicate key or wrong type is
// an error with file:line), secrets given as {env: NAME} or {file: PATH},
// and the Validate rules that both the TUI and the headless path use.
//
// It reads files and the environment only through what it is given; it
// touches no host.
package answers
