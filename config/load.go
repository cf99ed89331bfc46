package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Problems is every problem found in a configuration, reported together so an
// operator can fix them all in one go. Each entry is one line.
type Problems []string

func (p Problems) Error() string { return strings.Join(p, "\n") }

// Load reads the file at path, expands ${VAR} references from the environment,
// rejects unknown keys (naming each key's full path), applies defaults and
// validates the result. A *Problems error lists every mistake found.
func Load(path string) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("config file %s does not exist (pass -config FILE)", path)
		}
		return nil, fmt.Errorf("cannot read config file %s: %w", path, err)
	}
	return Parse(raw, os.LookupEnv)
}

// Parse is Load without the file system; lookup resolves ${VAR} references.
func Parse(raw []byte, lookup func(string) (string, bool)) (*Config, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&doc); err != nil {
		return nil, Problems{fmt.Sprintf("config is not valid YAML: %v", err)}
	}
	cfg := Defaults()
	var problems Problems
	fromEnv := map[string]bool{}
	if len(doc.Content) > 0 {
		root := doc.Content[0]
		problems = append(problems, expandEnv(root, "", lookup, fromEnv)...)
		problems = append(problems, unknownKeys(root, reflect.TypeOf(*cfg), "")...)
		if len(problems) == 0 {
			if err := root.Decode(cfg); err != nil {
				problems = append(problems, decodeProblems(err)...)
			}
		}
	}
	if len(problems) > 0 {
		return nil, problems
	}
	cfg.fromEnv = fromEnv
	cfg.applyEnv(lookup)
	if v, _ := lookup("WXCAS_ALLOW_SANDBOX"); v == "yes" {
		cfg.sandboxAcknowledged = true
	}
	if p := cfg.Validate(); len(p) > 0 {
		return nil, p
	}
	return cfg, nil
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// expandEnv replaces ${VAR} and ${VAR:-default} in scalar values (never in
// keys, and never in raw text, so a value cannot change the YAML structure).
// It records which key paths got their value from the environment so that
// Validate can insist that secrets do.
func expandEnv(n *yaml.Node, path string, lookup func(string) (string, bool), fromEnv map[string]bool) Problems {
	var problems Problems
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			problems = append(problems, expandEnv(n.Content[i+1], join(path, n.Content[i].Value), lookup, fromEnv)...)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			problems = append(problems, expandEnv(c, fmt.Sprintf("%s[%d]", path, i), lookup, fromEnv)...)
		}
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "${") {
			return nil
		}
		n.Value = envRef.ReplaceAllStringFunc(n.Value, func(ref string) string {
			m := envRef.FindStringSubmatch(ref)
			if v, ok := lookup(m[1]); ok && v != "" {
				return v
			}
			if m[2] != "" {
				return m[3]
			}
			problems = append(problems, fmt.Sprintf("%s: environment variable %s is not set", path, m[1]))
			return ""
		})
		fromEnv[path] = true
		if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) == 0 {
			n.Tag = "" // let the expanded text resolve to int/bool/duration as if written inline
		}
	}
	return problems
}

// unknownKeys walks the document beside the Go type and reports every key the
// type does not declare, by its dotted path (yaml's own KnownFields stops at the
// first one and names only the Go type).
func unknownKeys(n *yaml.Node, t reflect.Type, path string) Problems {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var problems Problems
	switch {
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Struct:
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i].Value
			ft, ok := fields[key]
			if !ok {
				problems = append(problems, fmt.Sprintf("%s: unknown key (line %d)", join(path, key), n.Content[i].Line))
				continue
			}
			problems = append(problems, unknownKeys(n.Content[i+1], ft, join(path, key))...)
		}
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Map:
		for i := 0; i+1 < len(n.Content); i += 2 {
			problems = append(problems, unknownKeys(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value))...)
		}
	case n.Kind == yaml.SequenceNode && t.Kind() == reflect.Slice:
		for i, c := range n.Content {
			problems = append(problems, unknownKeys(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i))...)
		}
	}
	return problems
}

func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			for k, v := range yamlFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

func decodeProblems(err error) Problems {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return Problems(te.Errors)
	}
	return Problems{err.Error()}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
