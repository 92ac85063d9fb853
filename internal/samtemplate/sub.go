package samtemplate

import (
	"fmt"
	"strings"
)

// Substitute evaluates the template string of Fn::Sub: every ${Name} is
// replaced by lookup(Name), and ${!Text} by the literal ${Text}, as
// CloudFormation does. Names are parameters, pseudo parameters
// (AWS::Region), resource ids or Resource.Attribute; lookup decides which it
// can resolve. A "${" without its "}" is an error.
func Substitute(template string, lookup func(name string) (string, error)) (string, error) {
	var b strings.Builder
	rest := template
	for {
		i := strings.Index(rest, "${")
		if i < 0 {
			b.WriteString(rest)
			return b.String(), nil
		}
		b.WriteString(rest[:i])
		rest = rest[i+2:]
		end := strings.IndexByte(rest, '}')
		if end < 0 {
			return "", fmt.Errorf("Fn::Sub %q: ${ without a closing }", template)
		}
		name := rest[:end]
		rest = rest[end+1:]
		if literal, ok := strings.CutPrefix(name, "!"); ok {
			b.WriteString("${" + literal + "}")
			continue
		}
		name = strings.TrimSpace(name)
		if name == "" {
			return "", fmt.Errorf("Fn::Sub %q: empty ${}", template)
		}
		if strings.HasPrefix(name, "!") {
			// "${!x}" is the escape; with a space before the "!" it is not,
			// and no parameter or resource name starts with one.
			return "", fmt.Errorf("Fn::Sub %q: ${%s}: not a name (write ${!...} for a literal ${...})", template, name)
		}
		v, err := lookup(name)
		if err != nil {
			return "", fmt.Errorf("Fn::Sub %q: ${%s}: %w", template, name, err)
		}
		b.WriteString(v)
	}
}
