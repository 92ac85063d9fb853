package samtemplate_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/okta-token-revoker/okta-token-revoker/internal/samtemplate"
)

// samconfig is the subset of samconfig.toml's grammar the project uses:
// [env.command.parameters] sections of `key = value` lines, and
// parameter_overrides as a (possibly multi-line) list of "Key=Value" strings.
type samconfig struct {
	version   string
	sections  map[string]map[string]string // section -> key -> raw value
	overrides map[string]map[string]string // section -> parameter -> value
}

func parseSamconfig(text string) (samconfig, error) {
	c := samconfig{sections: map[string]map[string]string{}, overrides: map[string]map[string]string{}}
	section, inList := "", false
	entry := regexp.MustCompile(`"([^"=]+)=([^"]*)"`)
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if i := strings.Index(line, "#"); i >= 0 && !strings.Contains(line[:i], `"`) {
			line = strings.TrimSpace(line[:i])
		}
		switch {
		case line == "":
		case inList:
			for _, m := range entry.FindAllStringSubmatch(line, -1) {
				c.overrides[section][m[1]] = m[2]
			}
			inList = !strings.HasSuffix(line, "]")
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
			if _, dup := c.sections[section]; dup {
				return c, fmt.Errorf("line %d: section [%s] twice", n, section)
			}
			c.sections[section] = map[string]string{}
		default:
			key, value, ok := strings.Cut(line, "=")
			if !ok {
				return c, fmt.Errorf("line %d: want key = value", n)
			}
			key, value = strings.TrimSpace(key), strings.TrimSpace(value)
			if section == "" {
				if key == "version" {
					c.version = value
				}
				continue
			}
			c.sections[section][key] = value
			if key == "parameter_overrides" {
				if !strings.HasPrefix(value, "[") {
					return c, fmt.Errorf("line %d: parameter_overrides must be a TOML list", n)
				}
				c.overrides[section] = map[string]string{}
				for _, m := range entry.FindAllStringSubmatch(value, -1) {
					c.overrides[section][m[1]] = m[2]
				}
				inList = !strings.HasSuffix(value, "]")
			}
		}
	}
	return c, sc.Err()
}

// checkSamconfig checks samconfig.toml against the template's parameters.
func checkSamconfig(tpl *samtemplate.Template, c samconfig) (problems []string) {
	if c.version != "0.1" {
		problems = append(problems, fmt.Sprintf("version %q, want 0.1", c.version))
	}
	for _, env := range []string{"default", "prod"} {
		global, deploy := c.sections[env+".global.parameters"], c.sections[env+".deploy.parameters"]
		if global["stack_name"] == "" {
			problems = append(problems, env+": no stack_name")
		}
		want := map[string]string{"capabilities": `"CAPABILITY_IAM"`, "resolve_s3": "true", "confirm_changeset": "true"}
		for k, v := range want {
			if deploy[k] != v {
				problems = append(problems, fmt.Sprintf("%s.deploy: %s = %s, want %s", env, k, deploy[k], v))
			}
		}
		if _, err := strconv.Unquote(deploy["region"]); err != nil {
			problems = append(problems, env+".deploy: no region")
		}
		overrides, ok := c.overrides[env+".deploy.parameters"]
		if !ok {
			problems = append(problems, env+".deploy: no parameter_overrides")
		}
		for name, value := range overrides {
			p, ok := tpl.Parameters[name]
			if !ok {
				problems = append(problems, fmt.Sprintf("%s: parameter_overrides sets %s, not a template parameter", env, name))
				continue
			}
			if len(p.AllowedValues) > 0 && !slices.Contains(p.AllowedValues, value) {
				problems = append(problems, fmt.Sprintf("%s: %s=%q is not one of %v", env, name, value, p.AllowedValues))
			}
			if p.AllowedPattern != "" && !regexp.MustCompile(p.AllowedPattern).MatchString(value) {
				problems = append(problems, fmt.Sprintf("%s: %s=%q does not match %s", env, name, value, p.AllowedPattern))
			}
		}
		for name, p := range tpl.Parameters {
			if _, set := overrides[name]; !set && !p.HasDefault {
				problems = append(problems, fmt.Sprintf("%s: parameter %s has no default and is not set", env, name))
			}
		}
	}
	return problems
}

func TestSamconfig(t *testing.T) {
	tpl, err := samtemplate.Load(filepath.Join(repoRoot, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(repoRoot, "samconfig.toml"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	c, err := parseSamconfig(text)
	if err != nil {
		t.Fatalf("samconfig.toml: %v", err)
	}
	for _, p := range checkSamconfig(tpl, c) {
		t.Error(p)
	}

	// The check catches drift between samconfig.toml and the template.
	tests := []struct{ old, new, want string }{
		{`"DryRun=true"`, `"DryRun=yes"`, `DryRun="yes" is not one of`},
		{`"OktaOrgUrl=https://example.okta.com"`, `"OktaOrgUrl=http://example.okta.com"`, "does not match"},
		{`"MaxConcurrency=2",`, `"MaxConcurrency=2", "Unknown=1",`, "Unknown, not a template parameter"},
		{`  "OktaOrgUrl=https://dev-000000.okta.com",` + "\n", "", "OktaOrgUrl has no default"},
		{"resolve_s3 = true", "resolve_s3 = false", "resolve_s3 = false"},
		{"version = 0.1", "version = 0.2", `version "0.2"`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if !strings.Contains(text, tt.old) {
				t.Fatalf("%q not in samconfig.toml", tt.old)
			}
			c, err := parseSamconfig(strings.Replace(text, tt.old, tt.new, 1))
			if err != nil {
				t.Fatal(err)
			}
			problems := checkSamconfig(tpl, c)
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tt.want) }) {
				t.Errorf("problems %q, want one containing %q", problems, tt.want)
			}
		})
	}
}
