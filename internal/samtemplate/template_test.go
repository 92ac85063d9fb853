package samtemplate

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestDecodeShortForms(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want any
	}{
		{"Ref", `!Ref Bucket`, map[string]any{"Ref": "Bucket"}},
		{"Ref pseudo parameter", `!Ref AWS::NoValue`, map[string]any{"Ref": "AWS::NoValue"}},
		{"Condition", `!Condition IsProd`, map[string]any{"Condition": "IsProd"}},
		{"GetAtt dotted", `!GetAtt Queue.Arn`, map[string]any{"Fn::GetAtt": []any{"Queue", "Arn"}}},
		{"GetAtt nested attribute", `!GetAtt Db.Endpoint.Address`, map[string]any{"Fn::GetAtt": []any{"Db", "Endpoint.Address"}}},
		{"GetAtt list", `!GetAtt [Queue, QueueName]`, map[string]any{"Fn::GetAtt": []any{"Queue", "QueueName"}}},
		{"Sub string", `!Sub "arn:${AWS::Partition}:s3:::x"`, map[string]any{"Fn::Sub": "arn:${AWS::Partition}:s3:::x"}},
		{"Sub list", "!Sub\n  - '${A}-x'\n  - A: !Ref B\n", map[string]any{"Fn::Sub": []any{"${A}-x", map[string]any{"A": map[string]any{"Ref": "B"}}}}},
		{"If", `!If [HasX, !Ref X, !Ref AWS::NoValue]`, map[string]any{"Fn::If": []any{"HasX", map[string]any{"Ref": "X"}, map[string]any{"Ref": "AWS::NoValue"}}}},
		{"Not Equals", `!Not [!Equals [!Ref A, ""]]`, map[string]any{"Fn::Not": []any{map[string]any{"Fn::Equals": []any{map[string]any{"Ref": "A"}, ""}}}}},
		{"And Or", `!And [!Condition A, !Or [!Condition B, !Condition C]]`, map[string]any{"Fn::And": []any{
			map[string]any{"Condition": "A"},
			map[string]any{"Fn::Or": []any{map[string]any{"Condition": "B"}, map[string]any{"Condition": "C"}}},
		}}},
		{"Join", `!Join [",", [a, !Ref B]]`, map[string]any{"Fn::Join": []any{",", []any{"a", map[string]any{"Ref": "B"}}}}},
		{"Select GetAZs", `!Select [0, !GetAZs ""]`, map[string]any{"Fn::Select": []any{0, map[string]any{"Fn::GetAZs": ""}}}},
		{"Split", `!Split [",", !Ref L]`, map[string]any{"Fn::Split": []any{",", map[string]any{"Ref": "L"}}}},
		{"FindInMap", `!FindInMap [M, !Ref AWS::Region, K]`, map[string]any{"Fn::FindInMap": []any{"M", map[string]any{"Ref": "AWS::Region"}, "K"}}},
		{"Base64 of Sub", `Fn::Base64: !Sub "x${Y}"`, map[string]any{"Fn::Base64": map[string]any{"Fn::Sub": "x${Y}"}}},
		{"Base64", `!Base64 text`, map[string]any{"Fn::Base64": "text"}},
		{"ImportValue", `!ImportValue shared-vpc`, map[string]any{"Fn::ImportValue": "shared-vpc"}},
		{"mapping with tagged values", "a: !Ref X\nb: 3\nc: 'text'\nd: true\ne: ~\n", map[string]any{
			"a": map[string]any{"Ref": "X"}, "b": 3, "c": "text", "d": true, "e": nil,
		}},
		{"quoted number stays a string", `v: "010"`, map[string]any{"v": "010"}},
		{"date-like scalar stays a string", `v: 2010-09-09`, map[string]any{"v": "2010-09-09"}},
		{"alias", "a: &x [1, 2]\nb: *x\n", map[string]any{"a": []any{1, 2}, "b": []any{1, 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeYAML([]byte(tt.yaml))
			if err != nil {
				t.Fatalf("decodeYAML: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name, yaml, wantErr string
	}{
		{"unknown tag", `!Bogus x`, "unknown tag !Bogus"},
		{"GetAtt without attribute", `!GetAtt Queue`, "want Resource.Attribute"},
		{"GetAtt empty attribute", `!GetAtt Queue.`, "want Resource.Attribute"},
		{"Ref of a list", `!Ref [a, b]`, "!Ref takes a name"},
		{"duplicate key", "a: 1\na: 2\n", `duplicate key "a"`},
		{"complex key", "? [a]\n: 1\n", "mapping key must be a scalar"},
		{"bad YAML", "a: [1, 2\n", "parse YAML"},
		{"empty", "", "empty document"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeYAML([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestDecodeRefusesAliasBombs(t *testing.T) {
	// Nine levels of nine aliases expand to 9^9 nodes.
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 10; i++ {
		prev := "*a" + string(rune('0'+i-1))
		b.WriteString("a" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [")
		b.WriteString(strings.Repeat(prev+", ", 8) + prev + "]\n")
	}
	_, err := decodeYAML([]byte(b.String()))
	if err == nil {
		t.Fatal("decodeYAML accepted an alias bomb")
	}
}

const sample = `
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Org: {Type: String, AllowedPattern: "^https://.+$"}
  Conc: {Type: Number, Default: 4}
  NoDefault: {Type: Number}
  Flag: {Type: String, Default: "false", AllowedValues: ["true", "false"]}
  Empty: {Type: String, Default: ""}
Globals:
  Function:
    Runtime: provided.al2023
    Architectures: [arm64]
    Handler: bootstrap
    Timeout: 10
    Layers: [global-layer]
    Environment:
      Variables:
        LOG_LEVEL: info
        SHARED: global
  HttpApi:
    Auth:
      DefaultAuthorizer: AWS_IAM
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth: {EnableIamAuthorizer: true, DefaultAuthorizer: AWS_IAM}
  OpenApi:
    Type: AWS::Serverless::HttpApi
  Queue:
    Type: AWS::SQS::Queue
    DeletionPolicy: Retain
    Properties:
      VisibilityTimeout: "120"
      RedrivePolicy: {deadLetterTargetArn: !GetAtt DLQ.Arn, maxReceiveCount: "5"}
  DLQ:
    Type: AWS::SQS::Queue
    Properties: {MessageRetentionPeriod: 1209600, FifoQueue: false}
  Token:
    Type: AWS::SecretsManager::Secret
  Fn:
    Type: AWS::Serverless::Function
    Metadata: {BuildMethod: makefile}
    Properties:
      CodeUri: .
      Timeout: 20
      MemorySize: 256
      Role: !GetAtt FnRole.Arn
      Layers: [own-layer]
      Environment:
        Variables:
          SHARED: own
          ORG: !Ref Org
          DRY: false
          PORT: 8080
      Policies: AWSLambdaBasicExecutionRole
      Events:
        Get: {Type: HttpApi, Properties: {ApiId: !Ref Api, Method: get, Path: "/things/{id}"}}
        Hook: {Type: HttpApi, Properties: {ApiId: !Ref Api, Method: POST, Path: /hook, TimeoutInMillis: 3000, Auth: {Authorizer: NONE}}}
        Open: {Type: HttpApi, Properties: {ApiId: !Ref OpenApi, Method: GET, Path: /open}}
        Implicit: {Type: HttpApi, Properties: {Method: GET, Path: /implicit}}
        Q:
          Type: SQS
          Properties:
            Queue: !GetAtt Queue.Arn
            BatchSize: 25
            MaximumBatchingWindowInSeconds: 1
            FunctionResponseTypes: [ReportBatchItemFailures]
            ScalingConfig: {MaximumConcurrency: !Ref Conc}
  Bare:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: {Bucket: b, Key: k}
      Environment:
        Variables:
          ARN: !If [C, !Ref Token, !Ref Empty]
      Events:
        Q: {Type: SQS, Properties: {Queue: "arn:aws:sqs:us-east-1:123456789012:other"}}
`

func TestParseSample(t *testing.T) {
	tpl, err := Parse([]byte(sample))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}

	wantParams := map[string]Parameter{
		"Org":       {Type: "String", AllowedPattern: "^https://.+$"},
		"Conc":      {Type: "Number", Default: "4", HasDefault: true},
		"NoDefault": {Type: "Number"},
		"Flag":      {Type: "String", Default: "false", HasDefault: true, AllowedValues: []string{"true", "false"}},
		"Empty":     {Type: "String", HasDefault: true},
	}
	if !reflect.DeepEqual(tpl.Parameters, wantParams) {
		t.Errorf("Parameters = %+v\nwant %+v", tpl.Parameters, wantParams)
	}

	wantQueues := map[string]Queue{
		"Queue": {LogicalID: "Queue", VisibilityTimeout: 120, DeadLetterQueue: "DLQ", MaxReceiveCount: 5, MessageRetentionPeriod: DefaultMessageRetentionPeriod},
		"DLQ":   {LogicalID: "DLQ", VisibilityTimeout: DefaultVisibilityTimeout, MessageRetentionPeriod: 1209600},
	}
	if !reflect.DeepEqual(tpl.Queues, wantQueues) {
		t.Errorf("Queues = %+v\nwant %+v", tpl.Queues, wantQueues)
	}
	if !reflect.DeepEqual(tpl.Secrets, []string{"Token"}) {
		t.Errorf("Secrets = %v", tpl.Secrets)
	}
	if got := tpl.Resources["Queue"].DeletionPolicy; got != "Retain" {
		t.Errorf("Queue DeletionPolicy = %q", got)
	}
	if got := tpl.FunctionNames(); !reflect.DeepEqual(got, []string{"Bare", "Fn"}) {
		t.Errorf("FunctionNames = %v", got)
	}

	fn := tpl.Functions["Fn"]
	checks := []struct {
		name      string
		got, want any
	}{
		{"LogicalID", fn.LogicalID, "Fn"},
		{"CodeURI", fn.CodeURI, "."},
		{"Handler (global)", fn.Handler, "bootstrap"},
		{"Runtime (global)", fn.Runtime, "provided.al2023"},
		{"Architectures (global)", fn.Architectures, []string{"arm64"}},
		{"BuildMethod", fn.BuildMethod, "makefile"},
		{"Timeout (own beats global)", fn.Timeout, 20},
		{"MemorySize", fn.MemorySize, 256},
		{"Role", fn.Role, "FnRole"},
		{"Policies (single, as a list)", fn.Policies, []any{"AWSLambdaBasicExecutionRole"}},
		{"Layers (global first)", fn.Properties["Layers"], []any{"global-layer", "own-layer"}},
		{"Environment", fn.Environment, map[string]Value{
			"LOG_LEVEL": {Literal: "info"},
			"SHARED":    {Literal: "own"},
			"ORG":       {Intrinsic: "Ref", Args: "Org"},
			"DRY":       {Literal: "false"},
			"PORT":      {Literal: "8080"},
		}},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("Fn %s = %#v, want %#v", c.name, c.got, c.want)
		}
	}

	type ev struct {
		Name, Type, Route, Authorizer, APIID string
		Timeout                              int
	}
	var gotEvents []ev
	for _, e := range fn.Events {
		gotEvents = append(gotEvents, ev{e.Name, e.Type, e.RouteKey(), e.Authorizer, e.APIID, e.TimeoutInMillis})
	}
	wantEvents := []ev{
		{"Get", "HttpApi", "GET /things/{id}", "AWS_IAM", "Api", 0},
		{"Hook", "HttpApi", "POST /hook", "NONE", "Api", 3000},
		{"Implicit", "HttpApi", "GET /implicit", "AWS_IAM", "", 0},
		{"Open", "HttpApi", "GET /open", "AWS_IAM", "OpenApi", 0}, // Globals.HttpApi applies to every API
		{"Q", "SQS", "", "", "", 0},
	}
	if !reflect.DeepEqual(gotEvents, wantEvents) {
		t.Errorf("events = %+v\nwant %+v", gotEvents, wantEvents)
	}
	q := fn.Events[4]
	if q.Queue != "Queue" || q.BatchSize != 25 || q.MaximumBatchingWindowInSeconds != 1 || q.MaximumConcurrency != 4 ||
		!reflect.DeepEqual(q.FunctionResponseTypes, []string{"ReportBatchItemFailures"}) {
		t.Errorf("SQS event = %+v", q)
	}

	bare := tpl.Functions["Bare"]
	if bare.CodeURI != "" || bare.Timeout != 10 || bare.MemorySize != DefaultMemorySize || bare.BuildMethod != "" || bare.Role != "" {
		t.Errorf("Bare = %+v", bare)
	}
	if got := bare.Environment["ARN"]; got.Intrinsic != "Fn::If" || got.String() == "" {
		t.Errorf("Bare ARN = %+v", got)
	}
	if e := bare.Events[0]; e.Queue != "arn:aws:sqs:us-east-1:123456789012:other" || e.BatchSize != DefaultSQSBatchSize {
		t.Errorf("Bare SQS event = %+v", e)
	}

	wantRoutes := []Route{
		{Key: "GET /implicit", Function: "Fn", Authorizer: "AWS_IAM"},
		{Key: "GET /open", Function: "Fn", Authorizer: "AWS_IAM", APIID: "OpenApi"},
		{Key: "GET /things/{id}", Function: "Fn", Authorizer: "AWS_IAM", APIID: "Api"},
		{Key: "POST /hook", Function: "Fn", Authorizer: "NONE", APIID: "Api"},
	}
	if got := tpl.Routes(); !reflect.DeepEqual(got, wantRoutes) {
		t.Errorf("Routes = %+v\nwant %+v", got, wantRoutes)
	}
}

func TestParseAuthorizerWithoutDefault(t *testing.T) {
	tpl, err := Parse([]byte(`
Resources:
  Api: {Type: AWS::Serverless::HttpApi}
  F:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        A: {Type: HttpApi, Properties: {ApiId: !Ref Api, Method: GET, Path: /a}}
        B: {Type: HttpApi, Properties: {Method: GET, Path: /b}}
        C: {Type: HttpApi, Properties: {ApiId: !Ref Api, Method: GET, Path: /c, Auth: {Authorizer: AWS_IAM}}}
        D: {Type: HttpApi}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []Route{
		{Key: "ANY /{proxy+}", Function: "F", Authorizer: "NONE"},
		{Key: "GET /a", Function: "F", Authorizer: "NONE", APIID: "Api"},
		{Key: "GET /b", Function: "F", Authorizer: "NONE"},
		{Key: "GET /c", Function: "F", Authorizer: "AWS_IAM", APIID: "Api"},
	}
	if got := tpl.Routes(); !reflect.DeepEqual(got, want) {
		t.Errorf("Routes = %+v\nwant %+v", got, want)
	}
}

func TestParseErrors(t *testing.T) {
	fn := func(props string) string {
		return "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n" + props
	}
	tests := []struct {
		name, yaml, wantErr string
	}{
		{"not a mapping", "[1, 2]", "not a mapping"},
		{"no resources", "Parameters: {}", "no Resources"},
		{"resource without type", "Resources:\n  X: {Properties: {}}\n", "resource X: Type missing"},
		{"properties not a mapping", "Resources:\n  X: {Type: AWS::SQS::Queue, Properties: [1]}\n", "Properties is not a mapping"},
		{"timeout not a number", fn("      Timeout: soon\n"), `function F: Timeout: Timeout: "soon" is not an integer`},
		{"timeout fractional", fn("      Timeout: 1.5\n"), "not an integer"},
		{"ref to a parameter without default", "Parameters: {P: {Type: Number}}\n" + fn("      Timeout: !Ref P\n"), "not a parameter with a Default"},
		{"ref to something else", fn("      MemorySize: !Ref Other\n"), "not a parameter with a Default"},
		{"architectures not a list", fn("      Architectures: arm64\n"), "Architectures: not a list"},
		{"env value a list", fn("      Environment: {Variables: {A: [1]}}\n"), "Environment.Variables.A"},
		{"http event without path", fn("      Events: {E: {Type: HttpApi, Properties: {Method: GET}}}\n"), "needs both Method and Path"},
		{"event without type", fn("      Events: {E: {Properties: {}}}\n"), "event Type missing"},
		{"sqs queue bad getatt", fn("      Events: {E: {Type: SQS, Properties: {Queue: !GetAtt [Q]}}}\n"), "want [Resource, Attribute]"},
		{"bad redrive", "Resources:\n  Q: {Type: AWS::SQS::Queue, Properties: {RedrivePolicy: {deadLetterTargetArn: 5}}}\n", "deadLetterTargetArn"},
		{"parameter type not a string", "Parameters: {P: {Type: [x]}}\nResources: {X: {Type: T}}\n", "parameter P: Type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(t.TempDir() + "/nope.yaml")
	if err == nil || !strings.Contains(err.Error(), "load SAM template") {
		t.Fatalf("err = %v", err)
	}
}

func TestMergeGlobals(t *testing.T) {
	tests := []struct {
		name          string
		global, local map[string]any
		want          map[string]any
	}{
		{"scalar: local wins", map[string]any{"T": 3}, map[string]any{"T": 5}, map[string]any{"T": 5}},
		{"global only", map[string]any{"T": 3}, map[string]any{}, map[string]any{"T": 3}},
		{"maps merge", map[string]any{"E": map[string]any{"A": "g", "B": "g"}}, map[string]any{"E": map[string]any{"B": "l"}},
			map[string]any{"E": map[string]any{"A": "g", "B": "l"}}},
		{"lists concatenate", map[string]any{"L": []any{"g"}}, map[string]any{"L": []any{"l"}}, map[string]any{"L": []any{"g", "l"}}},
		{"intrinsic replaces a map", map[string]any{"E": map[string]any{"A": "g"}}, map[string]any{"E": map[string]any{"Ref": "X"}},
			map[string]any{"E": map[string]any{"Ref": "X"}}},
		{"map replaces an intrinsic", map[string]any{"E": map[string]any{"Fn::If": []any{}}}, map[string]any{"E": map[string]any{"A": "l"}},
			map[string]any{"E": map[string]any{"A": "l"}}},
		{"type mismatch: local wins", map[string]any{"E": []any{"g"}}, map[string]any{"E": "l"}, map[string]any{"E": "l"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mergeGlobals(tt.global, tt.local); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
	// The global list must not be shared with (and mutated through) the result.
	g := []any{"a", "b"}
	g = g[:1]
	_ = mergeGlobals(map[string]any{"L": g}, map[string]any{"L": []any{"x"}})
	if full := g[:2]; full[1] != "b" {
		t.Errorf("merging mutated the global list: %v", full)
	}
}

func TestEventRouteKey(t *testing.T) {
	tests := []struct {
		ev   Event
		want string
	}{
		{Event{Type: "HttpApi", Method: "GET", Path: "/users/{userId}/clients"}, "GET /users/{userId}/clients"},
		{Event{Type: "SQS", Method: "GET", Path: "/x"}, ""},
	}
	for _, tt := range tests {
		if got := tt.ev.RouteKey(); got != tt.want {
			t.Errorf("%+v.RouteKey() = %q, want %q", tt.ev, got, tt.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(sample))
	if real, err := os.ReadFile("../../template.yaml"); err == nil {
		f.Add(real)
	}
	f.Add([]byte("Resources: {F: {Type: AWS::Serverless::Function, Properties: {Timeout: !Ref P}}}"))
	f.Add([]byte("a: !GetAtt A.B.C\nb: !Sub [x, {y: !Ref z}]"))
	f.Add([]byte("a: &a [*a]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tpl, err := Parse(data)
		if err != nil {
			return
		}
		for id, fn := range tpl.Functions {
			if fn.LogicalID != id {
				t.Fatalf("function %q has LogicalID %q", id, fn.LogicalID)
			}
			for _, ev := range fn.Events {
				if ev.Type == "HttpApi" && (ev.Method == "" || ev.Path == "" || ev.Authorizer == "") {
					t.Fatalf("incomplete HttpApi event %+v", ev)
				}
			}
		}
		for _, r := range tpl.Routes() {
			if r.Key == "" || r.Function == "" {
				t.Fatalf("incomplete route %+v", r)
			}
		}
	})
}

func TestCheckParameters(t *testing.T) {
	tpl, err := Load("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		overrides map[string]string
		wantErr   string // "" for none
	}{
		{"none", nil, ""},
		{"accepted values", map[string]string{"DryRun": "true", "LogLevel": "debug", "ReconcileLookback": "2h", "MaxConcurrency": "5"}, ""},
		// A misspelt DryRun must not leave real revocations on.
		{"unknown name", map[string]string{"Dryrun": "true"}, "parameter Dryrun: the template has no such parameter"},
		{"not an allowed value", map[string]string{"DryRun": "maybe"}, `parameter DryRun: value "maybe" is not one of true, false`},
		{"pattern matched only in part", map[string]string{"OktaOrgUrl": "https://acme.okta.com/x"}, "parameter OktaOrgUrl: value"},
		{"not a number", map[string]string{"MaxConcurrency": "five"}, `parameter MaxConcurrency: value "five" is not a number`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tpl.CheckParameters(tt.overrides)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("CheckParameters: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("CheckParameters = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}
