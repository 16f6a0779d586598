// Package conf reads the embedded daemons' own YAML config files (server,
// sshd, IdP): strict decoding, so a typo in a key is an error, and an empty
// file is an empty config. What the fields mean stays with each daemon.
package conf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v3"
)

// Read makes path absolute (relative paths inside a config are taken from
// its directory) and reads it; what names the file in errors.
func Read(path, what string) (abs string, b []byte, err error) {
	abs, err = filepath.Abs(path)
	if err != nil {
		return "", nil, err
	}
	b, err = os.ReadFile(abs)
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", what, err)
	}
	return abs, b, nil
}

// Decode strictly decodes b into v: unknown keys, duplicate keys and wrong
// types are errors naming the file (abs) and the line.
func Decode(b []byte, abs, what string, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("%s %s: %w", what, abs, err)
	}
	return nil
}
