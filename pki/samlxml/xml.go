package samlxml

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/beevik/etree"
	xrv "github.com/mattermost/xml-roundtrip-validator"
)

// Limits on untrusted XML. SAML messages from real IdPs are a few kB; the
// caps leave a wide margin while bounding canonicalization work
// (GHSA-qhrp-hfff-vphr) and memory.
const (
	MaxXMLBytes      = 256 << 10
	MaxXMLDepth      = 48
	MaxXMLElements   = 4000
	MaxXMLAttributes = 64
)

// Namespaces used in SAML messages.
const (
	NSAssertion = "urn:oasis:names:tc:SAML:2.0:assertion"
	NSProtocol  = "urn:oasis:names:tc:SAML:2.0:protocol"
	NSDSig      = "http://www.w3.org/2000/09/xmldsig#"
	NSMetadata  = "urn:oasis:names:tc:SAML:2.0:metadata"
)

// CheckXML refuses XML that a SAML message never needs and that attacks
// rely on: any DOCTYPE or other directive (XXE, billion laughs), comments
// (comment injection: canonicalization drops them, so they are unsigned, and
// they split text nodes), processing instructions other than the XML
// declaration, deep nesting and huge node counts. It then runs the
// round-trip validator (CVE-2020-27846 class) before anything parses the
// document for real.
func CheckXML(data []byte) error {
	return CheckXMLLimits(data, MaxXMLBytes, MaxXMLElements)
}

func CheckXMLLimits(data []byte, maxBytes, maxElements int) error {
	if len(data) > maxBytes {
		return fmt.Errorf("xml is %d bytes, more than the limit of %d", len(data), maxBytes)
	}
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	depth, elements, tokens := 0, 0, 0
	// Declared prefixes per open element: an undeclared prefix is one of
	// the namespace confusions encoding/xml does not round-trip.
	var scopes []map[string]bool
	declared := func(prefix string) bool {
		if prefix == "" || prefix == "xml" || prefix == "xmlns" {
			return true
		}
		for i := len(scopes) - 1; i >= 0; i-- {
			if scopes[i][prefix] {
				return true
			}
		}
		return false
	}
	for {
		tok, err := d.RawToken()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("malformed xml: %w", err)
		}
		tokens++
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			elements++
			if depth > MaxXMLDepth {
				return fmt.Errorf("xml nesting deeper than %d", MaxXMLDepth)
			}
			if elements > maxElements {
				return fmt.Errorf("xml has more than %d elements", maxElements)
			}
			if len(t.Attr) > MaxXMLAttributes {
				return fmt.Errorf("xml element has more than %d attributes", MaxXMLAttributes)
			}
			scope := map[string]bool{}
			for _, a := range t.Attr {
				if a.Name.Space == "xmlns" {
					scope[a.Name.Local] = true
				}
			}
			scopes = append(scopes, scope)
			if !declared(t.Name.Space) || strings.Contains(t.Name.Local, ":") {
				return fmt.Errorf("xml element %s:%s has an undeclared or malformed prefix", t.Name.Space, t.Name.Local)
			}
			for _, a := range t.Attr {
				if !declared(a.Name.Space) || strings.Contains(a.Name.Local, ":") {
					return fmt.Errorf("xml attribute %s:%s has an undeclared or malformed prefix", a.Name.Space, a.Name.Local)
				}
			}
		case xml.EndElement:
			depth--
			if len(scopes) > 0 {
				scopes = scopes[:len(scopes)-1]
			}
		case xml.Directive:
			return errors.New("xml must not contain a DOCTYPE or other directive")
		case xml.Comment:
			return errors.New("xml must not contain comments")
		case xml.ProcInst:
			if t.Target != "xml" || tokens != 1 {
				return errors.New("xml must not contain processing instructions")
			}
		}
	}
	if elements == 0 {
		return errors.New("xml has no root element")
	}
	if err := xrv.Validate(bytes.NewReader(data)); err != nil {
		return fmt.Errorf("xml does not survive a round trip: %w", err)
	}
	return nil
}

// Parse runs CheckXML and returns the parsed document's root.
func Parse(data []byte) (*etree.Element, error) {
	if err := CheckXML(data); err != nil {
		return nil, err
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(data); err != nil {
		return nil, fmt.Errorf("malformed xml: %w", err)
	}
	root := doc.Root()
	if root == nil {
		return nil, errors.New("xml has no root element")
	}
	if err := UniqueIDs(root); err != nil {
		return nil, err
	}
	return root, nil
}

// UniqueIDs refuses documents in which two elements carry the same ID
// attribute: a signature Reference would resolve to one of them while the
// other might be processed.
func UniqueIDs(root *etree.Element) error {
	seen := map[string]bool{}
	var walk func(*etree.Element) error
	walk = func(el *etree.Element) error {
		for _, a := range el.Attr {
			if a.Space == "" && a.Key == "ID" {
				if seen[a.Value] {
					return fmt.Errorf("duplicate ID %q", a.Value)
				}
				seen[a.Value] = true
			}
		}
		for _, c := range el.ChildElements() {
			if err := walk(c); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(root)
}

// Is reports whether el is the element ns:local.
func Is(el *etree.Element, ns, local string) bool {
	return el != nil && el.Tag == local && el.NamespaceURI() == ns
}

// Children returns the direct children of el named ns:local.
func Children(el *etree.Element, ns, local string) []*etree.Element {
	var out []*etree.Element
	for _, c := range el.ChildElements() {
		if Is(c, ns, local) {
			out = append(out, c)
		}
	}
	return out
}

// Child returns the only direct child ns:local of el, nil if there is none,
// and an error if there are several.
func Child(el *etree.Element, ns, local string) (*etree.Element, error) {
	cs := Children(el, ns, local)
	switch len(cs) {
	case 0:
		return nil, nil
	case 1:
		return cs[0], nil
	}
	return nil, fmt.Errorf("%s has %d %s elements, expected at most one", el.Tag, len(cs), local)
}

// Descendants counts the elements ns:local at any depth below (and
// including) el.
func Descendants(el *etree.Element, ns, local string) []*etree.Element {
	var out []*etree.Element
	if Is(el, ns, local) {
		out = append(out, el)
	}
	for _, c := range el.ChildElements() {
		out = append(out, Descendants(c, ns, local)...)
	}
	return out
}

// Text returns the character data of a leaf element. Elements with child
// elements have no text value in SAML's simple types; refusing them keeps an
// attacker from splitting a value across nodes.
func Text(el *etree.Element) (string, error) {
	if len(el.ChildElements()) > 0 {
		return "", fmt.Errorf("%s must contain only text", el.Tag)
	}
	var b strings.Builder
	for _, tok := range el.Child {
		if cd, ok := tok.(*etree.CharData); ok {
			b.WriteString(cd.Data)
		}
	}
	return b.String(), nil
}
