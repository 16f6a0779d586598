// Package cmapitest judges HTTP exchanges with a Cloudera Manager API against
// CM's own published API definition (swagger 2.0, API v45; the part cmtls
// uses is kept in testdata/cm-api). It is for tests: wrap a client's
// transport with Checker.Transport or a server's handler with
// Checker.Handler, and every API exchange whose path, method, query
// parameter, property or enum value the definition lacks is reported.
//
// Paths outside /api/ (the Admin Console, /saml/) are not API calls and are
// let through unjudged; GET /api/version is real but missing from the
// document (see testdata/cm-api/README.md) and is allowed.
package cmapitest

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// SpecFile is the kept part of CM's API definition, relative to the
// repository root.
const SpecFile = "testdata/cm-api/cm-swagger-v45-cmtls.json"

// Schema is a swagger 2.0 schema object, the keywords CM's document uses.
type Schema struct {
	Ref                  string             `json:"$ref"`
	Type                 string             `json:"type"`
	Enum                 []any              `json:"enum"`
	Items                *Schema            `json:"items"`
	Properties           map[string]*Schema `json:"properties"`
	AdditionalProperties json.RawMessage    `json:"additionalProperties"`
	AllOf                []*Schema          `json:"allOf"`
	Required             []string           `json:"required"`
}

// Param is a swagger 2.0 parameter object.
type Param struct {
	Name     string  `json:"name"`
	In       string  `json:"in"`
	Type     string  `json:"type"`
	Required bool    `json:"required"`
	Enum     []any   `json:"enum"`
	Items    *Schema `json:"items"`
	Schema   *Schema `json:"schema"`
}

// Operation is one method of one path.
type Operation struct {
	Parameters []Param `json:"parameters"`
	Responses  map[string]struct {
		Schema *Schema `json:"schema"`
	} `json:"responses"`
}

// Spec is a loaded definition.
type Spec struct {
	Title string
	paths []pathItem
	defs  map[string]*Schema
}

type pathItem struct {
	template string
	segs     []string
	ops      map[string]*Operation // upper-case method
}

// Load reads the definition kept in the repository (SpecFile), found from
// this source file's place in it.
func Load() (*Spec, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return nil, errors.New("cmapitest: cannot locate the repository")
	}
	root := filepath.Join(filepath.Dir(file), "..", "..", "..")
	return LoadFile(filepath.Join(root, filepath.FromSlash(SpecFile)))
}

// LoadFile reads a swagger 2.0 document such as CM's cm-swagger-v45.json.
func LoadFile(path string) (*Spec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(b)
}

// Parse decodes a swagger 2.0 document.
func Parse(b []byte) (*Spec, error) {
	var doc struct {
		Swagger string `json:"swagger"`
		Info    struct {
			Title   string `json:"title"`
			Version string `json:"version"`
		} `json:"info"`
		Paths       map[string]map[string]json.RawMessage `json:"paths"`
		Definitions map[string]*Schema                    `json:"definitions"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("cmapitest: definition: %w", err)
	}
	if doc.Swagger != "2.0" {
		return nil, fmt.Errorf("cmapitest: definition is swagger %q, want 2.0", doc.Swagger)
	}
	s := &Spec{Title: strings.TrimSpace(doc.Info.Title + " " + doc.Info.Version), defs: doc.Definitions}
	for tmpl, methods := range doc.Paths {
		it := pathItem{template: tmpl, segs: strings.Split(strings.Trim(tmpl, "/"), "/"), ops: map[string]*Operation{}}
		for m, raw := range methods {
			if m == "parameters" {
				continue
			}
			var op Operation
			if err := json.Unmarshal(raw, &op); err != nil {
				return nil, fmt.Errorf("cmapitest: %s %s: %w", strings.ToUpper(m), tmpl, err)
			}
			it.ops[strings.ToUpper(m)] = &op
		}
		s.paths = append(s.paths, it)
	}
	// Every $ref must resolve, or the checker would let anything through.
	for name, d := range s.defs {
		if err := s.checkRefs(d, 0); err != nil {
			return nil, fmt.Errorf("cmapitest: definition %s: %w", name, err)
		}
	}
	for _, p := range s.paths {
		for m, op := range p.ops {
			for _, prm := range op.Parameters {
				if err := s.checkRefs(prm.Schema, 0); err != nil {
					return nil, fmt.Errorf("cmapitest: %s %s: %w", m, p.template, err)
				}
			}
			for code, r := range op.Responses {
				if err := s.checkRefs(r.Schema, 0); err != nil {
					return nil, fmt.Errorf("cmapitest: %s %s %s: %w", m, p.template, code, err)
				}
			}
		}
	}
	return s, nil
}

func (s *Spec) checkRefs(sc *Schema, depth int) error {
	if sc == nil || depth > 8 {
		return nil
	}
	if sc.Ref != "" {
		if _, err := s.resolve(sc); err != nil {
			return err
		}
	}
	for _, c := range sc.AllOf {
		if err := s.checkRefs(c, depth+1); err != nil {
			return err
		}
	}
	for _, c := range sc.Properties {
		if err := s.checkRefs(c, depth+1); err != nil {
			return err
		}
	}
	return s.checkRefs(sc.Items, depth+1)
}

func (s *Spec) resolve(sc *Schema) (*Schema, error) {
	for i := 0; sc != nil && sc.Ref != ""; i++ {
		if i > 16 {
			return nil, fmt.Errorf("$ref loop at %s", sc.Ref)
		}
		name, ok := strings.CutPrefix(sc.Ref, "#/definitions/")
		d := s.defs[name]
		if !ok || d == nil {
			return nil, fmt.Errorf("unresolved $ref %s", sc.Ref)
		}
		sc = d
	}
	return sc, nil
}

// match finds the path template for rest (the path after /api/vN). A
// literal segment wins over a {parameter} (/users/sessions is not
// /users/{userName}).
func (s *Spec) match(rest string) (*pathItem, map[string]string) {
	segs := strings.Split(strings.Trim(rest, "/"), "/")
	var best *pathItem
	var bestVars map[string]string
	bestLit := -1
	for i := range s.paths {
		p := &s.paths[i]
		if len(p.segs) != len(segs) {
			continue
		}
		vars, lit, ok := map[string]string{}, 0, true
		for j, t := range p.segs {
			if strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}") {
				if segs[j] == "" {
					ok = false
					break
				}
				vars[t[1:len(t)-1]] = segs[j]
				continue
			}
			if t != segs[j] {
				ok = false
				break
			}
			lit++
		}
		if ok && lit > bestLit {
			best, bestVars, bestLit = p, vars, lit
		}
	}
	return best, bestVars
}
