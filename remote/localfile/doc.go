// Package localfile writes files on this machine the way cmtls writes them
// on remote hosts: to a temporary file in the same directory, synced, then
// renamed over the target, so that a reader (or a crash) sees the old file
// or the new one, never half of one, and the mode is set before any byte
// is written (keys are never readable by others, even briefly).
//
// It holds only local file writing with no policy of its own: backups,
// owners and what mode a file should have belong to the callers (cmd,
// steps/saml, the daemons). Remote writes belong in package remote.
package localfile
