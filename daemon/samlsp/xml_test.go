package samlsp

import "github.com/cmtls/cmtls/pki/samlxml"

// Limits and algorithms the hostile-input tests push against.
const (
	maxXMLElements = samlxml.MaxXMLElements
	maxQueryBytes  = samlxml.MaxQueryBytes
	digestSHA1     = samlxml.DigestSHA1
)
