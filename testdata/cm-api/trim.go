//go:build ignore

// trim keeps the part of Cloudera Manager's published swagger document that
// cmtls uses: the paths listed below (every method of each) and every
// definition reachable from them. Run from the repository root:
//
//	go run testdata/cm-api/trim.go cm-swagger-v45.json > testdata/cm-api/cm-swagger-v45-cmtls.json
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
)

// paths are the API paths cmtls (the client and the embedded server) uses,
// relative to /api/vN.
var paths = []string{
	"/cm/version",
	"/cm/config",
	"/cm/service",
	"/cm/service/config",
	"/cm/service/commands/restart",
	"/cm/commands/testExternalAuthentication",
	"/commands/{commandId}",
	"/hosts",
	"/hosts/{hostId}",
	"/externalUserMappings",
	"/externalUserMappings/{uuid}",
	"/authRoles",
	"/authRoles/metadata",
	"/authRoles/{uuid}",
	"/users",
	"/users/{userName}",
	"/users/sessions",
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go run trim.go cm-swagger-v45.json")
		os.Exit(2)
	}
	b, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(b, &doc); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var all, defs map[string]json.RawMessage
	_ = json.Unmarshal(doc["paths"], &all)
	_ = json.Unmarshal(doc["definitions"], &defs)
	kept := map[string]json.RawMessage{}
	for _, p := range paths {
		v, ok := all[p]
		if !ok {
			fmt.Fprintf(os.Stderr, "path %s is not in the document\n", p)
			os.Exit(1)
		}
		kept[p] = v
	}
	used := map[string]json.RawMessage{}
	var walk func(json.RawMessage)
	walk = func(raw json.RawMessage) {
		var v any
		_ = json.Unmarshal(raw, &v)
		var visit func(any)
		visit = func(x any) {
			switch t := x.(type) {
			case map[string]any:
				if r, ok := t["$ref"].(string); ok {
					name := strings.TrimPrefix(r, "#/definitions/")
					if _, seen := used[name]; !seen {
						used[name] = defs[name]
						walk(defs[name])
					}
				}
				for _, c := range t {
					visit(c)
				}
			case []any:
				for _, c := range t {
					visit(c)
				}
			}
		}
		visit(v)
	}
	for _, v := range kept {
		walk(v)
	}
	out := map[string]any{}
	for _, k := range []string{"swagger", "info", "basePath", "schemes", "securityDefinitions", "security"} {
		out[k] = doc[k]
	}
	out["paths"] = kept
	out["definitions"] = used
	names := make([]string, 0, len(used))
	for n := range used {
		names = append(names, n)
	}
	sort.Strings(names)
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", " ")
	if err := enc.Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "%d paths, %d definitions\n", len(kept), len(names))
}
