package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

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
//
// Every kind of problem is collected in one run — unset variables, unknown
// keys, values of the wrong type and the values Validate refuses — and
// reported in the order of the file, so one check-config run is enough to fix
// a file. Only a file that is not YAML at all is reported alone.
func Parse(raw []byte, lookup func(string) (string, bool)) (*Config, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&doc); err != nil {
		msg := fmt.Sprintf("config is not valid YAML: %v", err)
		if line := unquotedFlowVariable(raw); line > 0 {
			// The usual cause: in { ... } the } of ${VAR} ends the mapping.
			msg += fmt.Sprintf(" (line %d has ${...} inside { }: quote it, e.g. secret: '${VAR}')", line)
		}
		return nil, Problems{msg}
	}
	cfg := Defaults()
	var found []problem
	// reported holds key paths already reported as unset or mistyped: their
	// value is unknown, so what Validate says about it would only repeat.
	reported := map[string]bool{}
	var lines map[string]position
	w := &walker{lookup: lookup, fromEnv: map[string]bool{}, written: map[*yaml.Node]string{}, emptyEnv: map[*yaml.Node]bool{}, vars: map[string][]string{}, reported: reported}
	if len(doc.Content) > 0 {
		root := doc.Content[0]
		found = append(found, w.expandEnv(root, "")...)
		found = append(found, unknownKeys(root, reflect.TypeOf(*cfg), "")...)
		typeErrs := w.typeProblems(root, reflect.TypeOf(*cfg), "")
		found = append(found, typeErrs...)
		// After typeProblems, which looks at every copy of a duplicated key:
		// only the first is kept, so yaml does not refuse the duplicate
		// again without a path, and Validate sees one value.
		found = append(found, duplicateKeys(root, "")...)
		// yaml fills every field it can and reports the rest, so the other
		// values are still validated below.
		if err := root.Decode(cfg); err != nil && len(typeErrs) == 0 {
			found = append(found, decodeProblems(err)...)
		}
		lines = keyLines(root, "", map[string]position{})
	}
	cfg.fromEnv = w.fromEnv
	cfg.envVars = w.vars
	cfg.applyEnv(lookup)
	if v, _ := lookup("WXCAS_ALLOW_SANDBOX"); v == "yes" {
		cfg.sandboxAcknowledged = true
	}
	cfg.derive()
	for _, text := range cfg.Validate() {
		path := problemPath(text)
		if reported[path] {
			continue
		}
		if at, ok := lines[path]; ok {
			found = append(found, problem{at: at, text: fmt.Sprintf("%s (line %d)", text, at.line)})
			continue
		}
		found = append(found, problem{at: enclosing(lines, path), text: text})
	}
	if len(found) > 0 {
		// File order; what has no line in the file (a required key left out)
		// comes last, in Validate's order.
		sort.SliceStable(found, func(i, j int) bool { return found[i].at.before(found[j].at) })
		p := make(Problems, len(found))
		for i, f := range found {
			p[i] = f.text
		}
		return nil, p
	}
	return cfg, nil
}

// problem is one finding and where in the file it is.
type problem struct {
	at   position
	text string
}

// position is a line and column of the file; the zero value is "nowhere".
type position struct{ line, col int }

func at(n *yaml.Node) position { return position{n.Line, n.Column} }

// before orders positions as the file does, with "nowhere" last.
func (p position) before(q position) bool {
	switch {
	case p.line == 0:
		return false
	case q.line == 0:
		return true
	case p.line != q.line:
		return p.line < q.line
	}
	return p.col < q.col
}

// problemPath is the dotted key path a Validate message starts with
// ("server.listen: ..."). Every message begins with its key and a colon; one
// that qualifies its key ("server.listen (from WXCAS_LISTEN): ...") is about
// a value that is not in the file, so it gets no line.
func problemPath(text string) string {
	if i := strings.Index(text, ": "); i > 0 {
		return text[:i]
	}
	return text
}

// enclosing is where the nearest section of path is written in the file, so
// a value left out still sorts with the section it belongs to.
func enclosing(lines map[string]position, path string) position {
	for {
		i := strings.LastIndexAny(path, ".[")
		if i <= 0 {
			return position{}
		}
		path = path[:i]
		if p, ok := lines[path]; ok {
			return p
		}
	}
}

// keyLines maps every key path written in the document to its position.
func keyLines(n *yaml.Node, path string, out map[string]position) map[string]position {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := join(path, n.Content[i].Value)
			out[p] = at(n.Content[i])
			keyLines(n.Content[i+1], p, out)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			out[p] = at(c)
			keyLines(c, p, out)
		}
	}
	return out
}

// walker carries what the passes over the document share.
type walker struct {
	lookup func(string) (string, bool)
	// fromEnv holds the key paths whose values came from ${VAR}.
	fromEnv map[string]bool
	// written is the text of an expanded value as the file has it, for
	// messages: an expanded value may be a secret and is never shown.
	written map[*yaml.Node]string
	// emptyEnv marks unquoted values that expanded to nothing.
	emptyEnv map[*yaml.Node]bool
	// vars holds the variables each key path's value refers to, so that a
	// message can say which one to set.
	vars     map[string][]string
	reported map[string]bool
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// expandEnv replaces ${VAR} and ${VAR:-default} in scalar values (never in
// keys, and never in raw text, so a value cannot change the YAML structure).
// It records which key paths got their value from the environment so that
// Validate can insist that secrets do.
func (w *walker) expandEnv(n *yaml.Node, path string) []problem {
	var problems []problem
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			problems = append(problems, w.expandEnv(n.Content[i+1], join(path, n.Content[i].Value))...)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			problems = append(problems, w.expandEnv(c, fmt.Sprintf("%s[%d]", path, i))...)
		}
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "${") {
			return nil
		}
		w.written[n] = n.Value
		n.Value = envRef.ReplaceAllStringFunc(n.Value, func(ref string) string {
			m := envRef.FindStringSubmatch(ref)
			w.vars[path] = append(w.vars[path], m[1])
			if v, ok := w.lookup(m[1]); ok && v != "" {
				return v
			}
			if m[2] != "" {
				return m[3]
			}
			// A required variable set to nothing is as useless as an unset
			// one (an empty DSN or key), and "not set" would send the
			// operator looking for a variable that is there.
			problems = append(problems, problem{at: at(n),
				text: fmt.Sprintf("%s: environment variable %s is empty or not set (line %d)", path, m[1], n.Line)})
			w.reported[path] = true
			return ""
		})
		w.fromEnv[path] = true
		if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) == 0 {
			n.Tag = "" // let the expanded text resolve to int/bool/duration as if written inline
			if n.Value == "" {
				// Empty is not absent: resolved as YAML, "" would be null and
				// keep the default (metrics.listen: ${X:-} must turn metrics
				// off). typeProblems restores null for non-string fields.
				n.Tag = "!!str"
				w.emptyEnv[n] = true
			}
		}
	}
	return problems
}

// unknownKeys walks the document beside the Go type and reports every key the
// type does not declare, by its dotted path (yaml's own KnownFields stops at the
// first one and names only the Go type).
func unknownKeys(n *yaml.Node, t reflect.Type, path string) []problem {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var problems []problem
	switch {
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Struct:
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i].Value
			ft, ok := fields[key]
			if !ok {
				k := n.Content[i]
				problems = append(problems, problem{at: at(k), text: fmt.Sprintf("%s: unknown key (line %d)", join(path, key), k.Line)})
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

var durationType = reflect.TypeOf(time.Duration(0))

// typeProblems walks the document beside the Go type and tries each value on
// its own, so that every mistyped value is reported with its key path, the
// type expected and the value as written (yaml's own errors name only a line
// and cut the value off).
func (w *walker) typeProblems(n *yaml.Node, t reflect.Type, path string) []problem {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var problems []problem
	switch {
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Struct:
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			if ft, ok := fields[n.Content[i].Value]; ok { // unknown keys are reported by unknownKeys
				problems = append(problems, w.typeProblems(n.Content[i+1], ft, join(path, n.Content[i].Value))...)
			}
		}
		return problems
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Map:
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := join(path, n.Content[i].Value)
			problems = append(problems, w.typeProblems(n.Content[i], t.Key(), key)...)
			problems = append(problems, w.typeProblems(n.Content[i+1], t.Elem(), key)...)
		}
		return problems
	case n.Kind == yaml.SequenceNode && t.Kind() == reflect.Slice:
		for i, c := range n.Content {
			problems = append(problems, w.typeProblems(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i))...)
		}
		return problems
	}
	if w.emptyEnv[n] && t.Kind() != reflect.String {
		n.Tag = "!!null" // an empty expansion leaves a number, duration or switch at its default
	}
	if err := n.Decode(reflect.New(t).Interface()); err != nil || !wholeNumber(n, t) {
		w.reported[path] = true
		return []problem{{at: at(n), text: fmt.Sprintf("%s: expected %s, got %s (line %d)", path, describeType(t), w.describeValue(n), n.Line)}}
	}
	return nil
}

// wholeNumber reports whether n suits an integer field t as written: yaml
// decodes a float such as 4.9, 1e1 or -.inf into an int or uint by
// truncating it (4.9 would give 4-digit codes), so only a value that resolves
// as a YAML integer is taken. Durations (int64 underneath) are text and are
// refused by yaml when written as any bare number.
func wholeNumber(n *yaml.Node, t reflect.Type) bool {
	if t == durationType || n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
		return true
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return n.ShortTag() == "!!int"
	}
	return true
}

// duplicateKeys reports every key written more than once in one mapping, by
// its path and lines, and removes the later copies. yaml would refuse the
// file with a message naming no key (and only the first duplicate); a
// mapping of any section is checked, known or not.
func duplicateKeys(n *yaml.Node, path string) []problem {
	var problems []problem
	switch n.Kind {
	case yaml.MappingNode:
		first := map[string]int{} // key -> index of its first copy in copies
		var kept []*yaml.Node
		var copies [][]*yaml.Node // each key's copies, in file order
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			// Merge keys (<<) may repeat; yaml resolves them itself.
			if k.Kind == yaml.ScalarNode && k.ShortTag() != "!!merge" {
				if j, ok := first[k.Value]; ok {
					copies[j] = append(copies[j], k)
					continue
				}
				first[k.Value] = len(copies)
			}
			copies = append(copies, []*yaml.Node{k})
			kept = append(kept, k, v)
			problems = append(problems, duplicateKeys(v, join(path, k.Value))...)
		}
		for _, ks := range copies {
			if len(ks) < 2 {
				continue
			}
			lines := make([]string, len(ks))
			for i, k := range ks {
				lines[i] = strconv.Itoa(k.Line)
			}
			// Sorted at the second copy: that is where the mistake is.
			problems = append(problems, problem{at: at(ks[1]), text: fmt.Sprintf("%s: defined %s (lines %s)",
				join(path, ks[0].Value), times(len(ks)), strings.Join(lines[:len(lines)-1], ", ")+" and "+lines[len(lines)-1])})
		}
		n.Content = kept
	case yaml.SequenceNode:
		for i, c := range n.Content {
			problems = append(problems, duplicateKeys(c, fmt.Sprintf("%s[%d]", path, i))...)
		}
	}
	return problems
}

func times(n int) string {
	if n == 2 {
		return "twice"
	}
	return fmt.Sprintf("%d times", n)
}

// describeType names a Go type as config.yaml's reader knows it.
func describeType(t reflect.Type) string {
	switch {
	case t == durationType:
		return "a duration (such as 30s, 5m or 8h)"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
		return "a whole number"
	case t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uintptr:
		return "a whole number, not negative"
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return "a number"
	case t.Kind() == reflect.String:
		return "a text value"
	case t.Kind() == reflect.Slice || t.Kind() == reflect.Array:
		return "a list"
	case t.Kind() == reflect.Struct || t.Kind() == reflect.Map:
		return "a mapping of keys to values"
	}
	return t.String()
}

// describeValue is a value as the file has it: whole, quoted, and for a
// ${VAR} reference the reference itself, never what it expanded to.
func (w *walker) describeValue(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "the alias *" + n.Value
	}
	if written, ok := w.written[n]; ok {
		return strconv.Quote(written) + " (the expanded value is not shown)"
	}
	return strconv.Quote(n.Value)
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

// decodeProblems reports what yaml refused that typeProblems did not foresee.
func decodeProblems(err error) []problem {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return []problem{{text: err.Error()}}
	}
	var out []problem
	for _, e := range te.Errors {
		out = append(out, problem{text: e})
	}
	return out
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// unquotedFlowVariable is the first line (1-based) with a ${...} reference
// unquoted inside a flow mapping ({ ... }), which YAML cannot parse, or 0.
func unquotedFlowVariable(raw []byte) int {
	for i, line := range strings.Split(string(raw), "\n") {
		if before, _, ok := strings.Cut(line, "#"); ok && !strings.Contains(before, "${") {
			continue // only in a comment
		}
		open := strings.Index(line, "{")
		ref := strings.Index(line, "${")
		if open < 0 || ref < 0 || open >= ref {
			continue
		}
		if q := line[ref-1]; q == '\'' || q == '"' {
			continue
		}
		return i + 1
	}
	return 0
}
