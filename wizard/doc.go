// Package wizard is the interactive face of cmtls: huh forms that fill the
// answers the user has not given, and a Bubble Tea view that implements the
// steps Reporter. It makes no SSH calls, writes no files and holds no
// business rules: validation comes from package answers.
package wizard
