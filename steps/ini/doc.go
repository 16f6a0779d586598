// Package ini edits INI files such as the Cloudera Manager agent's
// config.ini byte for byte: it changes only the lines it must and leaves
// comments, blank lines, spacing, CRLF line ends and a missing final newline
// as they are, so that a second run is byte-identical ("unchanged") and
// writes and restarts nothing. Reading values goes through gopkg.in/ini.v1
// with IgnoreInlineComment, as Python's configparser (the agent's reader)
// does not treat a '#' inside a value as a comment.
//
// It is pure: bytes in, bytes out. Files, hosts and backups belong to the
// callers (steps/agentcfg).
package ini
