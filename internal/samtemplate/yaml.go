package samtemplate

import (
	"errors"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// maxNodes bounds the number of YAML nodes a template may expand to, so a
// document built from nested aliases ("billion laughs") is an error rather
// than an out-of-memory crash.
const maxNodes = 1_000_000

// shortForms maps CloudFormation's short-form YAML tags to the long-form key
// they stand for. !Ref and !Condition are not "Fn::" functions; !GetAtt has
// its own scalar syntax; see convertTagged.
var shortForms = map[string]string{
	"!Ref":          "Ref",
	"!Condition":    "Condition",
	"!GetAtt":       "Fn::GetAtt",
	"!Sub":          "Fn::Sub",
	"!If":           "Fn::If",
	"!Equals":       "Fn::Equals",
	"!Not":          "Fn::Not",
	"!And":          "Fn::And",
	"!Or":           "Fn::Or",
	"!Join":         "Fn::Join",
	"!Select":       "Fn::Select",
	"!Split":        "Fn::Split",
	"!FindInMap":    "Fn::FindInMap",
	"!Base64":       "Fn::Base64",
	"!ImportValue":  "Fn::ImportValue",
	"!GetAZs":       "Fn::GetAZs",
	"!Cidr":         "Fn::Cidr",
	"!Length":       "Fn::Length",
	"!ToJsonString": "Fn::ToJsonString",
	"!Transform":    "Fn::Transform",
}

// decodeYAML parses a CloudFormation YAML document into plain Go values
// (map[string]any, []any, string, int, float64, bool, nil), turning short-form
// intrinsic tags into their long form: `!Ref X` becomes {"Ref": "X"},
// `!GetAtt A.B` becomes {"Fn::GetAtt": ["A", "B"]}, `!Sub s` becomes
// {"Fn::Sub": "s"}, and so on.
func decodeYAML(data []byte) (any, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parse YAML: %w", err)
	}
	if doc.Kind == 0 {
		return nil, errors.New("parse YAML: empty document")
	}
	c := converter{budget: maxNodes}
	return c.convert(&doc)
}

type converter struct {
	budget int // nodes left to visit
	depth  int // alias nesting, to refuse alias cycles
}

func (c *converter) convert(n *yaml.Node) (any, error) {
	c.budget--
	if c.budget < 0 {
		return nil, errors.New("parse YAML: document too large (too many nodes after alias expansion)")
	}
	if tag := n.Tag; strings.HasPrefix(tag, "!") && !strings.HasPrefix(tag, "!!") {
		return c.convertTagged(n)
	}
	return c.convertPlain(n)
}

// convertPlain converts n ignoring any custom tag on it.
func (c *converter) convertPlain(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return c.convert(n.Content[0])
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: mapping key must be a scalar", k.Line)
			}
			if _, dup := m[k.Value]; dup {
				return nil, fmt.Errorf("line %d: duplicate key %q", k.Line, k.Value)
			}
			val, err := c.convert(v)
			if err != nil {
				return nil, err
			}
			m[k.Value] = val
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, item := range n.Content {
			val, err := c.convert(item)
			if err != nil {
				return nil, err
			}
			s = append(s, val)
		}
		return s, nil
	case yaml.ScalarNode:
		if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
			// A scalar under a custom tag is the tag's string argument.
			return n.Value, nil
		}
		if n.ShortTag() == "!!timestamp" {
			// CloudFormation has no timestamps: 2010-09-09 is a string.
			return n.Value, nil
		}
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
		return v, nil
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil, fmt.Errorf("line %d: unresolved alias", n.Line)
		}
		c.depth++
		defer func() { c.depth-- }()
		if c.depth > 100 {
			return nil, fmt.Errorf("line %d: aliases nested too deeply", n.Line)
		}
		return c.convert(n.Alias)
	}
	return nil, fmt.Errorf("line %d: unsupported YAML node kind %d", n.Line, n.Kind)
}

// convertTagged converts a node carrying a CloudFormation short-form tag.
func (c *converter) convertTagged(n *yaml.Node) (any, error) {
	key, ok := shortForms[n.Tag]
	if !ok {
		return nil, fmt.Errorf("line %d: unknown tag %s", n.Line, n.Tag)
	}
	switch n.Tag {
	case "!Ref", "!Condition":
		if n.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("line %d: %s takes a name, not a %s", n.Line, n.Tag, kindName(n.Kind))
		}
		return map[string]any{key: n.Value}, nil
	case "!GetAtt":
		if n.Kind == yaml.ScalarNode {
			// Attribute names may contain dots (Endpoint.Address): split at the first.
			resource, attr, found := strings.Cut(n.Value, ".")
			if !found || resource == "" || attr == "" {
				return nil, fmt.Errorf("line %d: !GetAtt %q: want Resource.Attribute", n.Line, n.Value)
			}
			return map[string]any{key: []any{resource, attr}}, nil
		}
	}
	args, err := c.convertPlain(n)
	if err != nil {
		return nil, err
	}
	return map[string]any{key: args}, nil
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "sequence"
	case yaml.ScalarNode:
		return "scalar"
	case yaml.AliasNode:
		return "alias"
	}
	return "document"
}
