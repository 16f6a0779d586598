package cmapitest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Violation is one way an exchange departs from the definition.
type Violation struct {
	Method, Path string // as sent (path without the query)
	Where        string // "path", "query", "request body", "response 200", ...
	Problem      string
}

func (v Violation) String() string {
	return fmt.Sprintf("%s %s: %s: %s", v.Method, v.Path, v.Where, v.Problem)
}

// apiPath splits /api/vN/rest (after any prefix a proxy adds).
var apiPath = regexp.MustCompile(`^(?:.*?)/api/(v[0-9]+)(/.*)?$`)

// IsAPI reports whether path is a CM API call (under /api/).
func IsAPI(path string) bool {
	return strings.HasSuffix(path, "/api/version") || apiPath.MatchString(path)
}

// CheckRequest judges a request: path, method, query and body.
func (s *Spec) CheckRequest(method string, u *url.URL, body []byte) []Violation {
	var out []Violation
	add := func(where, format string, a ...any) {
		out = append(out, Violation{Method: method, Path: u.Path, Where: where, Problem: fmt.Sprintf(format, a...)})
	}
	if strings.HasSuffix(u.Path, "/api/version") {
		if method != http.MethodGet {
			add("method", "/api/version is GET only")
		}
		return out
	}
	op, vars, ok := s.operation(method, u.Path, add)
	if !ok {
		return out
	}
	declared := map[string]Param{}
	var bodyParam *Param
	for i, p := range op.Parameters {
		switch p.In {
		case "body":
			bodyParam = &op.Parameters[i]
		case "query":
			declared[p.Name] = p
		case "path":
			if p.Name == "mockUuid" {
				continue // the mock's prefix, not CM's
			}
			if v, ok := vars[p.Name]; ok {
				if msg := checkScalar(p.Type, p.Enum, v); msg != "" {
					add("path", "{%s} %s", p.Name, msg)
				}
			}
		}
	}
	names := make([]string, 0, len(u.Query()))
	for n := range u.Query() {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p, ok := declared[n]
		if !ok {
			add("query", "parameter %q is not defined", n)
			continue
		}
		for _, v := range u.Query()[n] {
			// CM reads enum query values (view=full, view=FULL) without
			// regard to case; the document lists them upper case.
			if msg := checkScalar(p.Type, p.Enum, v); msg != "" {
				add("query", "%s=%s: %s", n, v, msg)
			}
		}
	}
	for n, p := range declared {
		if p.Required && !u.Query().Has(n) {
			add("query", "required parameter %q is missing", n)
		}
	}
	body = bytes.TrimSpace(body)
	switch {
	case len(body) == 0:
		if bodyParam != nil && bodyParam.Required {
			add("request body", "a body is required")
		}
	case bodyParam == nil:
		add("request body", "this operation takes no body")
	default:
		for _, p := range s.validateJSON(body, bodyParam.Schema) {
			add("request body", "%s", p)
		}
	}
	return out
}

// CheckResponse judges the answer to method u: a 2xx status must be one
// the operation declares, and its body must match the declared schema.
// Error answers (4xx, 5xx) and redirects are not judged.
func (s *Spec) CheckResponse(method string, u *url.URL, status int, body []byte) []Violation {
	var out []Violation
	where := "response " + strconv.Itoa(status)
	add := func(format string, a ...any) {
		out = append(out, Violation{Method: method, Path: u.Path, Where: where, Problem: fmt.Sprintf(format, a...)})
	}
	if status/100 != 2 || strings.HasSuffix(u.Path, "/api/version") {
		return out
	}
	op, _, ok := s.operation(method, u.Path, func(string, string, ...any) {})
	if !ok {
		return out // reported with the request
	}
	resp, ok := op.Responses[strconv.Itoa(status)]
	if !ok {
		var codes []string
		for c := range op.Responses {
			codes = append(codes, c)
		}
		sort.Strings(codes)
		add("status %d is not defined (CM answers %s)", status, strings.Join(codes, ", "))
		return out
	}
	body = bytes.TrimSpace(body)
	if status == http.StatusNoContent {
		if len(body) > 0 {
			add("a 204 answer has no body (RFC 9110, section 15.3.5)")
		}
		return out
	}
	if resp.Schema == nil {
		return out
	}
	if len(body) == 0 {
		add("empty body where the definition has a schema")
		return out
	}
	for _, p := range s.validateJSON(body, resp.Schema) {
		add("%s", p)
	}
	return out
}

func (s *Spec) operation(method, path string, add func(where, format string, a ...any)) (*Operation, map[string]string, bool) {
	m := apiPath.FindStringSubmatch(path)
	if m == nil {
		add("path", "not an API path (/api/vN/...)")
		return nil, nil, false
	}
	rest := m[2]
	if rest == "" {
		rest = "/"
	}
	p, vars := s.match(rest)
	if p == nil {
		add("path", "%s is not a path of %s", rest, s.title())
		return nil, nil, false
	}
	op := p.ops[strings.ToUpper(method)]
	if op == nil {
		var ms []string
		for k := range p.ops {
			ms = append(ms, k)
		}
		sort.Strings(ms)
		add("method", "%s %s is not defined (it has %s)", method, p.template, strings.Join(ms, ", "))
		return nil, nil, false
	}
	return op, vars, true
}

func (s *Spec) title() string {
	if s.Title == "" {
		return "the definition"
	}
	return s.Title
}

func checkScalar(typ string, enum []any, v string) string {
	switch typ {
	case "integer":
		if _, err := strconv.ParseInt(v, 10, 64); err != nil {
			return "not an integer"
		}
	case "boolean":
		if v != "true" && v != "false" {
			return "not true or false"
		}
	}
	if len(enum) > 0 && !slices.ContainsFunc(enum, func(e any) bool { s, ok := e.(string); return ok && strings.EqualFold(s, v) }) {
		return fmt.Sprintf("not one of %v", enum)
	}
	return ""
}

func (s *Spec) validateJSON(body []byte, sc *Schema) []string {
	var v any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return []string{"not JSON: " + err.Error()}
	}
	if dec.More() {
		return []string{"trailing data after the JSON value"}
	}
	var out []string
	s.validate("$", v, sc, 0, &out)
	return out
}

// maxDepth bounds recursion (ApiCommand refers to itself).
const maxDepth = 32

func (s *Spec) validate(at string, v any, sc *Schema, depth int, out *[]string) {
	if sc == nil || v == nil {
		// null is how CM's API says "unset" (PUT /cm/config: a null value
		// erases a setting).
		return
	}
	if depth > maxDepth {
		*out = append(*out, at+": nested too deep")
		return
	}
	sc, err := s.resolve(sc)
	if err != nil {
		*out = append(*out, at+": "+err.Error())
		return
	}
	if len(sc.AllOf) > 0 {
		merged := &Schema{Type: "object", Properties: map[string]*Schema{}}
		if err := s.flatten(sc, merged, 0); err != nil {
			*out = append(*out, at+": "+err.Error())
			return
		}
		sc = merged
	}
	typ := sc.Type
	if typ == "" && sc.Properties != nil {
		typ = "object"
	}
	switch typ {
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			*out = append(*out, fmt.Sprintf("%s: %s, want an object", at, kind(v)))
			return
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var extra *Schema
		if len(sc.AdditionalProperties) > 0 && string(sc.AdditionalProperties) != "false" {
			extra = &Schema{}
			_ = json.Unmarshal(sc.AdditionalProperties, extra)
		}
		for _, k := range keys {
			ps, ok := sc.Properties[k]
			if !ok {
				if extra == nil {
					*out = append(*out, fmt.Sprintf("%s: property %q is not defined", at, k))
					continue
				}
				ps = extra
			}
			s.validate(at+"."+k, obj[k], ps, depth+1, out)
		}
		for _, r := range sc.Required {
			if _, ok := obj[r]; !ok {
				*out = append(*out, fmt.Sprintf("%s: required property %q is missing", at, r))
			}
		}
	case "array":
		arr, ok := v.([]any)
		if !ok {
			*out = append(*out, fmt.Sprintf("%s: %s, want an array", at, kind(v)))
			return
		}
		for i, e := range arr {
			s.validate(fmt.Sprintf("%s[%d]", at, i), e, sc.Items, depth+1, out)
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			*out = append(*out, fmt.Sprintf("%s: %s, want a string", at, kind(v)))
			return
		}
		if len(sc.Enum) > 0 && !slices.ContainsFunc(sc.Enum, func(e any) bool { return e == str }) {
			*out = append(*out, fmt.Sprintf("%s: %q is not one of %v", at, str, sc.Enum))
		}
	case "integer", "number":
		n, ok := v.(json.Number)
		if !ok {
			*out = append(*out, fmt.Sprintf("%s: %s, want a %s", at, kind(v), typ))
			return
		}
		f, err := n.Float64()
		if err != nil || (typ == "integer" && f != math.Trunc(f)) {
			*out = append(*out, fmt.Sprintf("%s: %s is not a %s", at, n, typ))
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			*out = append(*out, fmt.Sprintf("%s: %s, want a boolean", at, kind(v)))
		}
	}
}

// flatten merges sc and, recursively, every allOf part (resolved) into
// one object schema: ApiServiceConfig is allOf ApiConfigList, itself allOf
// ApiListBase and its items.
func (s *Spec) flatten(sc *Schema, into *Schema, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("allOf nested too deep")
	}
	sc, err := s.resolve(sc)
	if err != nil {
		return err
	}
	for _, part := range sc.AllOf {
		if err := s.flatten(part, into, depth+1); err != nil {
			return err
		}
	}
	for k, ps := range sc.Properties {
		into.Properties[k] = ps
	}
	into.Required = append(into.Required, sc.Required...)
	if len(sc.AdditionalProperties) > 0 {
		into.AdditionalProperties = sc.AdditionalProperties
	}
	return nil
}

func kind(v any) string {
	switch t := v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return fmt.Sprintf("the string %q", t)
	case json.Number:
		return "the number " + t.String()
	case bool:
		return fmt.Sprintf("the boolean %v", t)
	}
	return fmt.Sprintf("%T", v)
}
