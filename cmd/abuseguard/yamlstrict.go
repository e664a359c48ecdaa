package main

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// decodeStrict decodes YAML into out (which already holds the defaults) and
// rejects keys that out has no field for, naming each one by its path, e.g.
// "unknown key detect.netscan.treshold (line 12)". yaml.v3's KnownFields
// gives only the line and the Go type, which does not tell an operator which
// of ten "threshold" keys they mistyped.
func decodeStrict(data []byte, out any) error {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file keeps every default
		}
		return fmt.Errorf("parse YAML: %w", err)
	}
	var problems []string
	checkKeys(&root, reflect.TypeOf(out), "", &problems)
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	if err := root.Decode(out); err != nil {
		return fmt.Errorf("decode YAML: %w", err)
	}
	return nil
}

var (
	textUnmarshaler = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()
	yamlUnmarshaler = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
	durationType    = reflect.TypeOf(time.Duration(0))
)

// checkKeys walks node alongside t and appends a message for every mapping
// key that has no matching field.
func checkKeys(node *yaml.Node, t reflect.Type, path string, problems *[]string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch node.Kind {
	case yaml.DocumentNode:
		for _, n := range node.Content {
			checkKeys(n, t, path, problems)
		}
		return
	case yaml.AliasNode:
		checkKeys(node.Alias, t, path, problems)
		return
	}
	// Types that decode themselves are leaves for this check.
	if t == durationType || reflect.PointerTo(t).Implements(textUnmarshaler) || reflect.PointerTo(t).Implements(yamlUnmarshaler) {
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if node.Kind != yaml.MappingNode {
			return // a type mismatch: yaml.Decode reports it with the line
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(node.Content); i += 2 {
			k, v := node.Content[i], node.Content[i+1]
			p := joinPath(path, k.Value)
			ft, ok := fields[k.Value]
			if !ok {
				*problems = append(*problems, fmt.Sprintf("unknown key %s (line %d)", p, k.Line))
				continue
			}
			checkKeys(v, ft, p, problems)
		}
	case reflect.Slice, reflect.Array:
		if node.Kind != yaml.SequenceNode {
			return
		}
		for i, n := range node.Content {
			checkKeys(n, t.Elem(), fmt.Sprintf("%s[%d]", path, i), problems)
		}
	case reflect.Map:
		if node.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(node.Content); i += 2 {
			checkKeys(node.Content[i+1], t.Elem(), joinPath(path, node.Content[i].Value), problems)
		}
	}
}

// yamlFields maps the YAML key of every field of struct type t, following
// ",inline" fields, to the field's type.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	m := make(map[string]reflect.Type)
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			for k, v := range yamlFields(ft) {
				m[k] = v
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		m[name] = f.Type
	}
	return m
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
