package cmd

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestLayers holds the import rule the README states: pki <- remote <-
// steps <- wizard <- cmd, and no product package imports daemon (the test
// stand-in). Test files may import what they need.
func TestLayers(t *testing.T) {
	t.Parallel()
	const mod = "github.com/cmtls/cmtls/"
	// what each layer must not import
	forbidden := map[string][]string{
		"pki":    {"remote", "steps", "wizard", "cmd", "daemon"},
		"remote": {"steps", "wizard", "cmd", "daemon"},
		"steps":  {"wizard", "cmd", "daemon"},
		"wizard": {"cmd", "daemon"},
	}
	checked := 0
	for layer, bad := range forbidden {
		err := filepath.WalkDir(filepath.Join("..", layer), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && d.Name() == "testdata" {
				return filepath.SkipDir
			}
			if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return nil
			}
			f, err := parser.ParseFile(token.NewFileSet(), p, nil, parser.ImportsOnly)
			if err != nil {
				return err
			}
			checked++
			for _, is := range f.Imports {
				path, _ := strconv.Unquote(is.Path.Value)
				for _, b := range bad {
					if path == mod+b || strings.HasPrefix(path, mod+b+"/") {
						t.Errorf("%s imports %s: the %s layer must not depend on %s", p, path, layer, b)
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if checked < 50 {
		t.Fatalf("only %d files checked: the walk did not find the packages", checked)
	}
}
