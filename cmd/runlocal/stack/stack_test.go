package stack

import (
	"log/slog"
	"net"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/okta-token-revoker/okta-token-revoker/internal/samtemplate"
)

const testTemplate = `
Transform: AWS::Serverless-2016-10-31
Parameters:
  OktaOrgUrl: {Type: String}
  LogLevel: {Type: String, Default: info}
  DryRun: {Type: String, Default: "false"}
  NoDefault: {Type: String}
Conditions:
  C: !Equals [!Ref DryRun, "true"]
Resources:
  Q:
    Type: AWS::SQS::Queue
    Properties:
      RedrivePolicy: {deadLetterTargetArn: !GetAtt DLQ.Arn, maxReceiveCount: 3}
  DLQ:
    Type: AWS::SQS::Queue
  Fn:
    Type: AWS::Serverless::Function
    Metadata: {BuildMethod: makefile}
    Properties:
      CodeUri: .
      Handler: bootstrap
      Runtime: provided.al2023
      Environment:
        Variables:
          OKTA_ORG_URL: !Ref OktaOrgUrl
          OKTA_API_SECRET_ARN: !If [C, !Ref Q, !Ref Q]
          HOOK_SECRET_ARN: !Ref Q
          REVOCATION_QUEUE_URL: !Ref Q
          LOG_LEVEL: !Ref LogLevel
          DRY_RUN: !Ref DryRun
          PLAIN: "literal value"
`

func testStack(t *testing.T, extraEnv string) *Stack {
	t.Helper()
	tpl, err := samtemplate.Parse([]byte(testTemplate + extraEnv))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return &Stack{
		Template:   tpl,
		OktaOrgURL: "http://127.0.0.1:9999",
		Queues: map[string]Queue{
			"Q":   {LogicalID: "Q", URL: "http://moto/123456789012/Q", ARN: "arn:aws:sqs:us-east-1:123456789012:Q"},
			"DLQ": {LogicalID: "DLQ", URL: "http://moto/123456789012/DLQ", ARN: "arn:aws:sqs:us-east-1:123456789012:DLQ"},
		},
		SecretARNs: map[string]string{
			EnvOktaAPISecretARN: "arn:aws:secretsmanager:us-east-1:123456789012:secret:okta-api",
			EnvHookSecretARN:    "arn:aws:secretsmanager:us-east-1:123456789012:secret:hook",
		},
	}
}

func TestEnvironmentResolution(t *testing.T) {
	s := testStack(t, "")
	env, err := s.environment(s.Template.Functions["Fn"], Options{Parameters: map[string]string{"DryRun": "true"}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"OKTA_ORG_URL":         "http://127.0.0.1:9999",
		"OKTA_API_SECRET_ARN":  "arn:aws:secretsmanager:us-east-1:123456789012:secret:okta-api",
		"HOOK_SECRET_ARN":      "arn:aws:secretsmanager:us-east-1:123456789012:secret:hook",
		"REVOCATION_QUEUE_URL": "http://moto/123456789012/Q",
		"LOG_LEVEL":            "info",
		"DRY_RUN":              "true",
		"PLAIN":                "literal value",
	}
	if !reflect.DeepEqual(env, want) {
		t.Errorf("env = %v\nwant  %v", env, want)
	}
	if s.RevocationQueue.LogicalID != "Q" || s.DeadLetterQueue.LogicalID != "DLQ" {
		t.Errorf("revocation queue %+v, DLQ %+v", s.RevocationQueue, s.DeadLetterQueue)
	}
}

func TestEnvironmentErrorsNameTheVariable(t *testing.T) {
	tests := []struct {
		name, variable, want string
	}{
		{"unsupported intrinsic", `          OTHER: !Sub "${AWS::Region}-x"`, "OTHER"},
		{"ref to nothing", `          OTHER: !Ref Nowhere`, "OTHER: !Ref Nowhere names no parameter or queue"},
		{"parameter without default", `          OTHER: !Ref NoDefault`, "OTHER: parameter NoDefault has no Default"},
		{"getatt", `          OTHER: !GetAtt Q.Arn`, "OTHER"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := testStack(t, tt.variable+"\n")
			_, err := s.environment(s.Template.Functions["Fn"], Options{})
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "function Fn") {
				t.Errorf("err = %v, want it to name the function and contain %q", err, tt.want)
			}
		})
	}
}

func TestOptionsDefaults(t *testing.T) {
	tests := []struct {
		name    string
		in      Options
		addr    string
		wantErr string
	}{
		{"default address", Options{}, DefaultAddr, ""},
		{"empty host is loopback", Options{Addr: ":8080"}, "127.0.0.1:8080", ""},
		{"explicit host kept", Options{Addr: "0.0.0.0:8080"}, "0.0.0.0:8080", ""},
		{"bad address", Options{Addr: "nope"}, "", "listen address"},
		{"okta url without secret", Options{OktaOrgURL: "https://x.okta.com"}, "", "needs both"},
		{"okta secret without url", Options{OktaAPISecret: "tok"}, "", "needs both"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.in.withDefaults()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Addr != tt.addr || got.HookSecret == "" || got.TemplatePath != "template.yaml" {
				t.Errorf("defaults = addr %q, hook secret set %v, template %q", got.Addr, got.HookSecret != "", got.TemplatePath)
			}
		})
	}
}

// TestStartRefusesEarly: mistakes a user makes on the command line fail
// before the build, moto_server and the functions are started, and say
// what to do.
func TestStartRefusesEarly(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tests := []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{"misspelt parameter", Options{Parameters: map[string]string{"Dryrun": "true"}}, "the template has no such parameter"},
		{"value the template refuses", Options{Parameters: map[string]string{"DryRun": "maybe"}}, `value "maybe" is not one of true, false`},
		{"port in use", Options{Addr: busy.Addr().String()}, "choose another address with -addr"},
		{"no template here", Options{TemplatePath: "template.yaml"}, "run from the repository root, or pass -template"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			if opts.TemplatePath == "" {
				opts.TemplatePath = "../../../template.yaml"
			}
			if opts.Addr == "" {
				opts.Addr = "127.0.0.1:0"
			}
			opts.BuildDir = t.TempDir()
			opts.Logger = slog.New(slog.DiscardHandler)
			s, err := Start(t.Context(), opts)
			if err == nil {
				s.Close()
				t.Fatal("Start succeeded")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Start: %v, want an error containing %q", err, tt.wantErr)
			}
			if entries, _ := os.ReadDir(opts.BuildDir); len(entries) > 0 {
				t.Errorf("something was built before the refusal: %v", entries)
			}
		})
	}
}
