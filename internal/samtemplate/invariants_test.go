package samtemplate_test

// Project invariants of template.yaml that cfn-lint cannot see (see
// research/aws.md §5.3): SAM's makefile contract, SQS sizing hidden behind
// AutoPublishAlias, the exact route and environment contracts, and least
// privilege. Each check returns the problems it finds; TestInvariantChecksCatchMistakes
// proves every check fails on a broken copy of the real files.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/okta-token-revoker/okta-token-revoker/internal/samtemplate"
)

const repoRoot = "../.."

// project is what the checks look at.
type project struct {
	tpl      *samtemplate.Template
	makefile string
	events   map[string][]byte // events/*.json by file name
}

func loadProject(t *testing.T) (templateText, makefile string, events map[string][]byte) {
	t.Helper()
	tb, err := os.ReadFile(filepath.Join(repoRoot, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	mb, err := os.ReadFile(filepath.Join(repoRoot, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(repoRoot, "events", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	events = map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		events[filepath.Base(f)] = b
	}
	return string(tb), string(mb), events
}

type check struct {
	name string
	fn   func(p project) []string
}

var checks = []check{
	{"functions build with the makefile method", checkBuild},
	{"arm64 everywhere", checkArchitectures},
	{"queue visibility covers the consumer", checkVisibility},
	{"SQS event sources", checkSQSEvents},
	{"routes and authorizers", checkRoutes},
	{"environment contract", checkEnvironment},
	{"no wildcard permissions", checkNoWildcards},
	{"each function reads only its secret", checkSecretAccess},
	{"logging and tracing", checkLogging},
	{"sample events match routes", checkSampleEvents},
	{"alarms", checkAlarms},
	{"outputs", checkOutputs},
	{"reconciliation", checkReconcile},
}

func TestTemplateInvariants(t *testing.T) {
	text, makefile, events := loadProject(t)
	tpl, err := samtemplate.Parse([]byte(text))
	if err != nil {
		t.Fatalf("parse template.yaml: %v", err)
	}
	if len(tpl.Functions) == 0 {
		t.Fatal("template.yaml has no functions")
	}
	p := project{tpl: tpl, makefile: makefile, events: events}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			for _, problem := range c.fn(p) {
				t.Error(problem)
			}
		})
	}
}

func TestInvariantChecksCatchMistakes(t *testing.T) {
	text, makefile, events := loadProject(t)
	type edit struct{ old, new string }
	tests := []struct {
		check         string
		templateEdits []edit
		makefileEdits []edit
		extraEvent    string
		want          string
	}{
		{check: "functions build with the makefile method", makefileEdits: []edit{{"build-ListTokensFunction:", "build-ListTokens:"}},
			want: "no make target build-ListTokensFunction"},
		{check: "functions build with the makefile method", templateEdits: []edit{{"      BuildMethod: makefile\n    Properties:\n      Role: !GetAtt ListTokensRole.Arn", "      BuildMethod: go1.x\n    Properties:\n      Role: !GetAtt ListTokensRole.Arn"}},
			want: `ListTokensFunction: BuildMethod "go1.x"`},
		{check: "arm64 everywhere", templateEdits: []edit{{"Architectures: [arm64]", "Architectures: [x86_64]"}},
			want: "Architectures [x86_64]"},
		{check: "arm64 everywhere", makefileEdits: []edit{{"GOARCH ?= arm64", "GOARCH ?= amd64"}},
			want: "GOARCH ?= arm64"},
		{check: "queue visibility covers the consumer", templateEdits: []edit{{"VisibilityTimeout: 370", "VisibilityTimeout: 300"}},
			want: "VisibilityTimeout 300"},
		{check: "SQS event sources", templateEdits: []edit{{"BatchSize: 10", "BatchSize: 50"}, {"MaximumBatchingWindowInSeconds: 2", "MaximumBatchingWindowInSeconds: 0"}},
			want: "BatchSize 50 needs MaximumBatchingWindowInSeconds >= 1"},
		{check: "SQS event sources", templateEdits: []edit{{"FunctionResponseTypes: [ReportBatchItemFailures]", "FunctionResponseTypes: []"}},
			want: "ReportBatchItemFailures"},
		{check: "SQS event sources", templateEdits: []edit{{"            ScalingConfig:\n              MaximumConcurrency: !Ref MaxConcurrency\n", ""}},
			want: "MaximumConcurrency"},
		{check: "SQS event sources", templateEdits: []edit{{"maxReceiveCount: 5", "maxReceiveCount: 50"}},
			want: "maxReceiveCount 50"},
		{check: "routes and authorizers", templateEdits: []edit{{"            Auth:\n              Authorizer: NONE\n", ""}},
			want: "GET /hooks/okta: authorizer AWS_IAM, want NONE"},
		{check: "routes and authorizers", templateEdits: []edit{{"Path: /revocations", "Path: /revocation"}},
			want: "unexpected route POST /revocation"},
		{check: "environment contract", templateEdits: []edit{{"          HOOK_AUTH_HEADER: Authorization\n", "          HOOK_AUTH_HEADER: Authorization\n          OKTA_API_SECRET_ARN: !Ref OktaApiSecretArn\n"}},
			want: "OktaHookFunction: environment"},
		{check: "environment contract", templateEdits: []edit{{"HOOK_AUTH_HEADER: Authorization", "HOOK_AUTH_HEADER: X-Okta-Secret"}},
			want: "HOOK_AUTH_HEADER"},
		{check: "no wildcard permissions", templateEdits: []edit{{"Action: sqs:SendMessage\n", "Action: sqs:*\n"}},
			want: `wildcard Action "sqs:*"`},
		{check: "no wildcard permissions", templateEdits: []edit{{"Resource: !GetAtt RevocationQueue.Arn", `Resource: "*"`}},
			want: `wildcard Resource "*"`},
		{check: "no wildcard permissions", templateEdits: []edit{{"policy/AWSXRayDaemonWriteAccess", "policy/AdministratorAccess"}},
			want: "managed policy"},
		{check: "no wildcard permissions", templateEdits: []edit{{"      Role: !GetAtt OktaHookRole.Arn\n", ""}},
			want: "OktaHookFunction has no explicit Role"},
		{check: "each function reads only its secret", templateEdits: []edit{{"Resource: !If [CreateHookSecret, !Ref HookSecret, !Ref HookSecretArn]", "Resource: !If [CreateOktaApiSecret, !Ref OktaApiSecret, !Ref OktaApiSecretArn]"}},
			want: "OktaHookFunction"},
		{check: "logging and tracing", templateEdits: []edit{{"      RetentionInDays: !Ref LogRetentionInDays\n", ""}},
			want: "HttpApiAccessLogGroup has no RetentionInDays"},
		{check: "logging and tracing", templateEdits: []edit{{"LogFormat: JSON", "LogFormat: Text"}},
			want: "LogFormat"},
		{check: "logging and tracing", templateEdits: []edit{{"ApplicationLogLevel: !If [IsDebugLogLevel, DEBUG, INFO]", "ApplicationLogLevel: WARN"}},
			want: "ApplicationLogLevel"},
		{check: "logging and tracing", templateEdits: []edit{{"IsDebugLogLevel: !Equals [!Ref LogLevel, debug]", "IsDebugLogLevel: !Equals [!Ref LogLevel, info]"}},
			want: "IsDebugLogLevel"},
		{check: "sample events match routes", extraEvent: `{"version":"2.0","routeKey":"GET /nope","requestContext":{"http":{"method":"GET"}}}`,
			want: `routeKey "GET /nope"`},
		{check: "alarms", templateEdits: []edit{{"MetricName: ApproximateAgeOfOldestMessage", "MetricName: NumberOfMessagesSent"}},
			want: "ApproximateAgeOfOldestMessage"},
		{check: "alarms", templateEdits: []edit{{"MetricName: HookSecretUnavailable", "MetricName: HookUnauthenticated"}},
			want: "HookSecretUnavailable"},
		{check: "alarms", templateEdits: []edit{{"          Value: sqs\n", "          Value: http\n"}},
			want: "Deferred"},
		{check: "outputs", templateEdits: []edit{{"  HookUrl:\n", "  HookURL:\n"}},
			want: "output HookUrl"},
		{check: "environment contract", templateEdits: []edit{{"          DEDUPE_TABLE_NAME: !Ref DedupeTable\n      Events:\n        VerifyHook:", "          DEDUPE_TABLE_NAME: other-table\n      Events:\n        VerifyHook:"}},
			want: "DEDUPE_TABLE_NAME"},
		{check: "environment contract", templateEdits: []edit{{"          REVOKE_ON_EVENTS: !Ref RevokeOnEvents\n          RECONCILE_LOOKBACK", "          REVOKE_ON_EVENTS: user.lifecycle.suspend\n          RECONCILE_LOOKBACK"}},
			want: "ReconcileFunction: REVOKE_ON_EVENTS"},
		{check: "reconciliation", templateEdits: []edit{{"        AttributeName: expiresAt", "        AttributeName: ttl"}},
			want: "TTL"},
		{check: "reconciliation", templateEdits: []edit{{"                  - dynamodb:DeleteItem\n", "                  - dynamodb:Scan\n"}},
			want: "dynamodb:Scan"},
		{check: "reconciliation", templateEdits: []edit{{"                Resource: !GetAtt DedupeTable.Arn", `                Resource: !Sub "${DedupeTable.Arn}/index/*"`}},
			want: "DynamoDB actions on"},
		{check: "reconciliation", templateEdits: []edit{{"      Timeout: 120\n", "      Timeout: 900\n"}},
			want: "lease"},
		{check: "reconciliation", templateEdits: []edit{{"            - user.session.clear\n      State: ENABLED", "      State: ENABLED"}},
			want: "detail.eventType"},
		{check: "reconciliation", templateEdits: []edit{{"    Condition: HasOktaEventBus\n    Properties:\n      Description: okta-token-revoker revocation events", "    Properties:\n      Description: okta-token-revoker revocation events"}},
			want: "Condition"},
		{check: "reconciliation", templateEdits: []edit{{"      Principal: events.amazonaws.com", "      Principal: sns.amazonaws.com"}},
			want: "no Lambda permission"},
		{check: "reconciliation", templateEdits: []edit{{"      MetricName: HookDeliveryFailures", "      MetricName: HookDeliveries"}},
			want: "HookDeliveryFailures"},
		{check: "reconciliation", templateEdits: []edit{{`Schedule: !Sub "rate(${ReconcileIntervalMinutes} minutes)"`, `Schedule: "rate(1 hour)"`}},
			want: "Schedule"},
	}
	byName := map[string]func(project) []string{}
	for _, c := range checks {
		byName[c.name] = c.fn
	}
	for _, tt := range tests {
		t.Run(tt.check+"/"+tt.want, func(t *testing.T) {
			fn, ok := byName[tt.check]
			if !ok {
				t.Fatalf("no check %q", tt.check)
			}
			apply := func(s string, edits []edit) string {
				for _, e := range edits {
					if !strings.Contains(s, e.old) {
						t.Fatalf("edit target %q not found", e.old)
					}
					s = strings.Replace(s, e.old, e.new, 1)
				}
				return s
			}
			tpl, err := samtemplate.Parse([]byte(apply(text, tt.templateEdits)))
			if err != nil {
				t.Fatalf("parse edited template: %v", err)
			}
			ev := events
			if tt.extraEvent != "" {
				ev = map[string][]byte{"zz-extra.json": []byte(tt.extraEvent)}
			}
			problems := fn(project{tpl: tpl, makefile: apply(makefile, tt.makefileEdits), events: ev})
			for _, p := range problems {
				if strings.Contains(p, tt.want) {
					return
				}
			}
			t.Errorf("check %q found %q, want a problem containing %q", tt.check, problems, tt.want)
		})
	}
}

// Names of the contract, fixed by issue 2 and contracts.md.
const (
	hookFn      = "OktaHookFunction"
	listFn      = "ListTokensFunction"
	revokeFn    = "RevokeTokensFunction"
	reconcileFn = "ReconcileFunction" // issue 9
)

type routeWant struct{ function, authorizer string }

var wantRoutes = map[string]routeWant{
	"GET /hooks/okta":                                            {hookFn, "NONE"},
	"POST /hooks/okta":                                           {hookFn, "NONE"},
	"GET /users/{userId}/clients":                                {listFn, "AWS_IAM"},
	"GET /users/{userId}/clients/{clientId}/tokens":              {listFn, "AWS_IAM"},
	"GET /users/{userId}/clients/{clientId}/tokens/{tokenId}":    {listFn, "AWS_IAM"},
	"GET /apps/{appId}/tokens":                                   {listFn, "AWS_IAM"},
	"GET /apps/{appId}/tokens/{tokenId}":                         {listFn, "AWS_IAM"},
	"DELETE /users/{userId}/clients/{clientId}/tokens":           {revokeFn, "AWS_IAM"},
	"DELETE /users/{userId}/clients/{clientId}/tokens/{tokenId}": {revokeFn, "AWS_IAM"},
	"DELETE /users/{userId}/tokens":                              {revokeFn, "AWS_IAM"},
	"DELETE /apps/{appId}/tokens":                                {revokeFn, "AWS_IAM"},
	"DELETE /apps/{appId}/tokens/{tokenId}":                      {revokeFn, "AWS_IAM"},
	"POST /revocations":                                          {revokeFn, "AWS_IAM"},
}

var wantEnv = map[string][]string{
	hookFn:   {"DEDUPE_TABLE_NAME", "HOOK_AUTH_HEADER", "HOOK_SECRET_ARN", "LOG_LEVEL", "REVOCATION_QUEUE_URL", "REVOKE_ON_EVENTS"},
	listFn:   {"LOG_LEVEL", "OKTA_API_SECRET_ARN", "OKTA_ORG_URL"},
	revokeFn: {"DRY_RUN", "LOG_LEVEL", "OKTA_API_SECRET_ARN", "OKTA_ORG_URL", "REVOCATION_QUEUE_URL", "REVOKE_CONCURRENCY", "REVOKE_OKTA_SESSIONS"},
	reconcileFn: {"DEDUPE_TABLE_NAME", "LOG_LEVEL", "OKTA_API_SECRET_ARN", "OKTA_ORG_URL", "RECONCILE_LOOKBACK", "RECONCILE_MAX_PAGES",
		"REVOCATION_QUEUE_URL", "REVOKE_ON_EVENTS"},
}

// allowedManagedPolicies are AWS managed policies a role may attach. X-Ray
// has no resource-level permissions, so its policy is on "*" by necessity.
var allowedManagedPolicies = []string{"AWSXRayDaemonWriteAccess"}

func checkBuild(p project) (problems []string) {
	for _, id := range p.tpl.FunctionNames() {
		fn := p.tpl.Functions[id]
		target := "build-" + id
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(target) + `\s*:`).MatchString(p.makefile) {
			problems = append(problems, fmt.Sprintf("%s: no make target %s in the Makefile (SAM runs it)", id, target))
		}
		if fn.BuildMethod != "makefile" {
			problems = append(problems, fmt.Sprintf("%s: BuildMethod %q, want makefile", id, fn.BuildMethod))
		}
		if fn.CodeURI != "." {
			problems = append(problems, fmt.Sprintf("%s: CodeUri %q, want . (one module, one Makefile)", id, fn.CodeURI))
		}
		if fn.Runtime != "provided.al2023" || fn.Handler != "bootstrap" {
			problems = append(problems, fmt.Sprintf("%s: Runtime %q Handler %q, want provided.al2023 and bootstrap", id, fn.Runtime, fn.Handler))
		}
	}
	if len(p.tpl.Functions) != 4 {
		problems = append(problems, fmt.Sprintf("template has functions %v, want %s, %s, %s and %s", p.tpl.FunctionNames(), hookFn, listFn, revokeFn, reconcileFn))
	}
	return problems
}

func checkArchitectures(p project) (problems []string) {
	for _, id := range p.tpl.FunctionNames() {
		if a := p.tpl.Functions[id].Architectures; !slices.Equal(a, []string{"arm64"}) {
			problems = append(problems, fmt.Sprintf("%s: Architectures %v, want [arm64]", id, a))
		}
	}
	if !regexp.MustCompile(`(?m)^GOARCH \?= arm64$`).MatchString(p.makefile) {
		problems = append(problems, "Makefile: want GOARCH ?= arm64, the template's architecture")
	}
	return problems
}

func sqsEvents(p project) (out []struct {
	fn samtemplate.Function
	ev samtemplate.Event
}) {
	for _, id := range p.tpl.FunctionNames() {
		fn := p.tpl.Functions[id]
		for _, ev := range fn.Events {
			if ev.Type == "SQS" {
				out = append(out, struct {
					fn samtemplate.Function
					ev samtemplate.Event
				}{fn, ev})
			}
		}
	}
	return out
}

func checkVisibility(p project) (problems []string) {
	// AWS: at least 6x the function timeout; the batching window adds to the
	// time a received message is held before the function even starts.
	for _, s := range sqsEvents(p) {
		q, ok := p.tpl.Queues[s.ev.Queue]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s.%s: queue %q is not a queue of this template", s.fn.LogicalID, s.ev.Name, s.ev.Queue))
			continue
		}
		if min := 6*s.fn.Timeout + s.ev.MaximumBatchingWindowInSeconds; q.VisibilityTimeout < min {
			problems = append(problems, fmt.Sprintf("%s: VisibilityTimeout %d < 6 x %s Timeout %d + batching window %d = %d",
				q.LogicalID, q.VisibilityTimeout, s.fn.LogicalID, s.fn.Timeout, s.ev.MaximumBatchingWindowInSeconds, min))
		}
	}
	return problems
}

func checkSQSEvents(p project) (problems []string) {
	events := sqsEvents(p)
	if len(events) != 1 || events[0].fn.LogicalID != revokeFn {
		problems = append(problems, fmt.Sprintf("want exactly one SQS event, on %s; got %d", revokeFn, len(events)))
	}
	for _, s := range events {
		ev, name := s.ev, s.fn.LogicalID+"."+s.ev.Name
		if ev.BatchSize > 10 && ev.MaximumBatchingWindowInSeconds < 1 {
			problems = append(problems, fmt.Sprintf("%s: BatchSize %d needs MaximumBatchingWindowInSeconds >= 1 (Lambda rejects it otherwise)", name, ev.BatchSize))
		}
		if !slices.Contains(ev.FunctionResponseTypes, "ReportBatchItemFailures") {
			problems = append(problems, name+": FunctionResponseTypes lacks ReportBatchItemFailures (one bad message would fail the batch)")
		}
		if ev.MaximumConcurrency < 2 {
			problems = append(problems, fmt.Sprintf("%s: ScalingConfig.MaximumConcurrency %d, want a bound >= 2 so Okta's rate limits hold", name, ev.MaximumConcurrency))
		}
		q := p.tpl.Queues[ev.Queue]
		dlq, ok := p.tpl.Queues[q.DeadLetterQueue]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s: no dead-letter queue", q.LogicalID))
			continue
		}
		if q.MaxReceiveCount < 3 || q.MaxReceiveCount > 10 {
			problems = append(problems, fmt.Sprintf("%s: maxReceiveCount %d, want about 5", q.LogicalID, q.MaxReceiveCount))
		}
		if dlq.MessageRetentionPeriod != 14*24*3600 || dlq.MessageRetentionPeriod <= q.MessageRetentionPeriod {
			problems = append(problems, fmt.Sprintf("%s: retention %d s, want 14 days, longer than %s's %d s", dlq.LogicalID, dlq.MessageRetentionPeriod, q.LogicalID, q.MessageRetentionPeriod))
		}
		if sse := p.tpl.Resources[q.LogicalID].Properties["SqsManagedSseEnabled"]; sse != true {
			problems = append(problems, q.LogicalID+": SqsManagedSseEnabled is not true")
		}
	}
	return problems
}

func checkRoutes(p project) (problems []string) {
	got := map[string]routeWant{}
	for _, r := range p.tpl.Routes() {
		if _, dup := got[r.Key]; dup {
			problems = append(problems, "route "+r.Key+" declared twice")
		}
		got[r.Key] = routeWant{r.Function, r.Authorizer}
		if r.APIID != "HttpApi" {
			problems = append(problems, fmt.Sprintf("route %s is on API %q, want HttpApi", r.Key, r.APIID))
		}
	}
	for _, key := range sortedKeys(wantRoutes) {
		want := wantRoutes[key]
		g, ok := got[key]
		switch {
		case !ok:
			problems = append(problems, "missing route "+key)
		case g.function != want.function:
			problems = append(problems, fmt.Sprintf("%s: served by %s, want %s", key, g.function, want.function))
		case g.authorizer != want.authorizer:
			problems = append(problems, fmt.Sprintf("%s: authorizer %s, want %s", key, g.authorizer, want.authorizer))
		}
	}
	for _, key := range sortedKeys(got) {
		if _, ok := wantRoutes[key]; !ok {
			problems = append(problems, "unexpected route "+key)
		}
	}
	api := p.tpl.HTTPAPIs["HttpApi"]
	auth, _ := api.Properties["Auth"].(map[string]any)
	if api.DefaultAuthorizer != "AWS_IAM" || auth["EnableIamAuthorizer"] != true {
		problems = append(problems, "HttpApi: want Auth.DefaultAuthorizer AWS_IAM and EnableIamAuthorizer true")
	}
	if api.Properties["FailOnWarnings"] != true {
		problems = append(problems, "HttpApi: want FailOnWarnings true")
	}
	rs, _ := api.Properties["RouteSettings"].(map[string]any)
	for _, key := range []string{"GET /hooks/okta", "POST /hooks/okta"} {
		if _, ok := rs[key]; !ok {
			problems = append(problems, "HttpApi: no RouteSettings (throttling) for the open route "+key)
		}
	}
	if _, ok := api.Properties["DefaultRouteSettings"]; !ok {
		problems = append(problems, "HttpApi: no DefaultRouteSettings (throttling)")
	}
	return problems
}

func checkEnvironment(p project) (problems []string) {
	for _, id := range sortedKeys(wantEnv) {
		fn, ok := p.tpl.Functions[id]
		if !ok {
			problems = append(problems, "missing function "+id)
			continue
		}
		got := sortedKeys(fn.Environment)
		if !slices.Equal(got, wantEnv[id]) {
			problems = append(problems, fmt.Sprintf("%s: environment %v, want %v", id, got, wantEnv[id]))
		}
		if _, ok := fn.Environment["OKTA_API_SECRET_ARN"]; ok && id == hookFn {
			problems = append(problems, hookFn+" must not get OKTA_API_SECRET_ARN: the hook never calls Okta")
		}
		wantValues := map[string]samtemplate.Value{
			"REVOCATION_QUEUE_URL": {Intrinsic: "Ref", Args: "RevocationQueue"},
			"OKTA_ORG_URL":         {Intrinsic: "Ref", Args: "OktaOrgUrl"},
			"HOOK_AUTH_HEADER":     {Literal: "Authorization"},
			"LOG_LEVEL":            {Intrinsic: "Ref", Args: "LogLevel"},
			// The hook and the reconciler must map events alike and share one
			// dedupe table, or an event could be queued by both.
			"REVOKE_ON_EVENTS":  {Intrinsic: "Ref", Args: "RevokeOnEvents"},
			"DEDUPE_TABLE_NAME": {Intrinsic: "Ref", Args: "DedupeTable"},
		}
		for name, want := range wantValues {
			if got, ok := fn.Environment[name]; ok && !reflect.DeepEqual(got, want) {
				problems = append(problems, fmt.Sprintf("%s: %s = %v, want %v", id, name, got, want))
			}
		}
	}
	return problems
}

// statements returns every IAM statement in a policy document, with both
// branches of a statement-level !If.
func statements(doc any) []map[string]any {
	d, _ := doc.(map[string]any)
	var out []map[string]any
	var add func(s any)
	add = func(s any) {
		switch v := s.(type) {
		case []any:
			for _, item := range v {
				add(item)
			}
		case map[string]any:
			if args, ok := v["Fn::If"].([]any); ok && len(v) == 1 && len(args) == 3 {
				add(args[1])
				add(args[2])
				return
			}
			if _, ok := v["Ref"]; ok && len(v) == 1 { // AWS::NoValue
				return
			}
			out = append(out, v)
		}
	}
	add(d["Statement"])
	return out
}

// wildcards returns the literal strings in an IAM Action or Resource value
// that contain "*"; intrinsics are searched (Sub strings, If branches, Join
// parts), references to resources are exact by construction.
func wildcards(v any) []string {
	switch x := v.(type) {
	case string:
		if strings.Contains(x, "*") {
			return []string{x}
		}
	case []any:
		var out []string
		for _, item := range x {
			out = append(out, wildcards(item)...)
		}
		return out
	case map[string]any:
		var out []string
		for k, args := range x {
			switch k {
			case "Ref", "Fn::GetAtt", "Fn::ImportValue":
			case "Fn::Sub":
				if list, ok := args.([]any); ok && len(list) > 0 {
					out = append(out, wildcards(list[0])...)
				} else {
					out = append(out, wildcards(args)...)
				}
			case "Fn::If":
				if list, ok := args.([]any); ok && len(list) == 3 {
					out = append(out, wildcards(list[1])...)
					out = append(out, wildcards(list[2])...)
				}
			default:
				out = append(out, wildcards(args)...)
			}
		}
		return out
	}
	return nil
}

// rolePolicies returns the inline policy documents of an AWS::IAM::Role.
func rolePolicies(r samtemplate.Resource) []any {
	var docs []any
	policies, _ := r.Properties["Policies"].([]any)
	for _, pol := range policies {
		if m, ok := pol.(map[string]any); ok {
			docs = append(docs, m["PolicyDocument"])
		}
	}
	return docs
}

func checkNoWildcards(p project) (problems []string) {
	for _, id := range p.tpl.FunctionNames() {
		fn := p.tpl.Functions[id]
		// Without an explicit role SAM attaches AWSLambdaBasicExecutionRole and
		// AWSLambdaSQSQueueExecutionRole, both on Resource "*".
		if fn.Role == "" || p.tpl.Resources[fn.Role].Type != "AWS::IAM::Role" {
			problems = append(problems, id+" has no explicit Role of this template (SAM's generated role attaches policies on *)")
		}
		if len(fn.Policies) > 0 {
			problems = append(problems, id+": Policies are ignored next to Role; put statements on the role")
		}
	}
	for _, id := range sortedKeys(p.tpl.Resources) {
		r := p.tpl.Resources[id]
		var docs []any
		switch r.Type {
		case "AWS::IAM::Role":
			docs = rolePolicies(r)
			managed, _ := r.Properties["ManagedPolicyArns"].([]any)
			for _, m := range managed {
				s := fmt.Sprint(m)
				if !slices.ContainsFunc(allowedManagedPolicies, func(a string) bool { return strings.Contains(s, "policy/"+a) }) {
					problems = append(problems, fmt.Sprintf("%s: managed policy %v is not one of %v", id, m, allowedManagedPolicies))
				}
			}
			for _, st := range statements(r.Properties["AssumeRolePolicyDocument"]) {
				principal, _ := st["Principal"].(map[string]any)
				if !reflect.DeepEqual(principal, map[string]any{"Service": "lambda.amazonaws.com"}) || st["Action"] != "sts:AssumeRole" {
					problems = append(problems, fmt.Sprintf("%s: trust policy statement %v, want only lambda.amazonaws.com sts:AssumeRole", id, st))
				}
			}
		case "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy":
			docs = []any{r.Properties["PolicyDocument"]}
		}
		for _, doc := range docs {
			sts := statements(doc)
			if len(sts) == 0 {
				problems = append(problems, id+": policy without statements")
			}
			for _, st := range sts {
				for _, key := range []string{"NotAction", "NotResource"} {
					if _, ok := st[key]; ok {
						problems = append(problems, fmt.Sprintf("%s: %s grants everything but a list", id, key))
					}
				}
				for _, w := range wildcards(st["Action"]) {
					problems = append(problems, fmt.Sprintf("%s: wildcard Action %q", id, w))
				}
				for _, w := range wildcards(st["Resource"]) {
					problems = append(problems, fmt.Sprintf("%s: wildcard Resource %q", id, w))
				}
				if st["Action"] == nil || st["Resource"] == nil {
					problems = append(problems, fmt.Sprintf("%s: statement %v lacks Action or Resource", id, st["Sid"]))
				}
			}
		}
	}
	return problems
}

// actionsOf returns a statement's Action as a list.
func actionsOf(st map[string]any) []string {
	switch a := st["Action"].(type) {
	case string:
		return []string{a}
	case []any:
		var out []string
		for _, item := range a {
			out = append(out, fmt.Sprint(item))
		}
		return out
	}
	return nil
}

func checkSecretAccess(p project) (problems []string) {
	for _, id := range p.tpl.FunctionNames() {
		fn := p.tpl.Functions[id]
		// The secrets a function may read are exactly those its environment names.
		var want []any
		for _, name := range sortedKeys(fn.Environment) {
			if strings.HasSuffix(name, "_SECRET_ARN") {
				v := fn.Environment[name]
				want = append(want, map[string]any{v.Intrinsic: v.Args})
			}
		}
		var got []any
		for _, doc := range rolePolicies(p.tpl.Resources[fn.Role]) {
			for _, st := range statements(doc) {
				for _, a := range actionsOf(st) {
					if strings.HasPrefix(a, "secretsmanager:") {
						if a != "secretsmanager:GetSecretValue" {
							problems = append(problems, fmt.Sprintf("%s: %s beyond GetSecretValue", id, a))
						}
						got = append(got, st["Resource"])
					}
				}
			}
		}
		if !reflect.DeepEqual(got, want) {
			problems = append(problems, fmt.Sprintf("%s: may read secrets %v, want exactly %v (its *_SECRET_ARN variables)", id, got, want))
		}
	}
	return problems
}

func checkLogging(p project) (problems []string) {
	for _, id := range sortedKeys(p.tpl.Resources) {
		r := p.tpl.Resources[id]
		if r.Type == "AWS::Logs::LogGroup" && r.Properties["RetentionInDays"] == nil {
			problems = append(problems, id+" has no RetentionInDays")
		}
	}
	for _, id := range p.tpl.FunctionNames() {
		props := p.tpl.Functions[id].Properties
		lc, _ := props["LoggingConfig"].(map[string]any)
		if lc["LogFormat"] != "JSON" {
			problems = append(problems, fmt.Sprintf("%s: LoggingConfig.LogFormat %v, want JSON", id, lc["LogFormat"]))
		}
		// Lambda filters JSON application logs at INFO by default: LOG_LEVEL
		// debug needs DEBUG, and WARN or ERROR would drop the EMF metric
		// lines (they have no level, so they count as INFO).
		wantLevel := map[string]any{"Fn::If": []any{"IsDebugLogLevel", "DEBUG", "INFO"}}
		if !reflect.DeepEqual(lc["ApplicationLogLevel"], wantLevel) {
			problems = append(problems, fmt.Sprintf("%s: LoggingConfig.ApplicationLogLevel %v, want %v", id, lc["ApplicationLogLevel"], wantLevel))
		}
		ref, _ := lc["LogGroup"].(map[string]any)
		group, _ := ref["Ref"].(string)
		if p.tpl.Resources[group].Type != "AWS::Logs::LogGroup" {
			problems = append(problems, fmt.Sprintf("%s: LoggingConfig.LogGroup %v is not a log group of this template", id, lc["LogGroup"]))
		}
		if props["Tracing"] != "Active" {
			problems = append(problems, id+": Tracing is not Active")
		}
		if props["AutoPublishAlias"] != "live" {
			problems = append(problems, id+": AutoPublishAlias is not live")
		}
	}
	conditions, _ := p.tpl.Raw["Conditions"].(map[string]any)
	wantCond := map[string]any{"Fn::Equals": []any{map[string]any{"Ref": "LogLevel"}, "debug"}}
	if !reflect.DeepEqual(conditions["IsDebugLogLevel"], wantCond) {
		problems = append(problems, fmt.Sprintf("Condition IsDebugLogLevel %v, want %v", conditions["IsDebugLogLevel"], wantCond))
	}
	return problems
}

func checkSampleEvents(p project) (problems []string) {
	routes := map[string]bool{}
	for _, r := range p.tpl.Routes() {
		routes[r.Key] = true
	}
	for _, name := range sortedKeys(p.events) {
		var ev struct {
			RouteKey       string `json:"routeKey"`
			RequestContext struct {
				HTTP *struct{} `json:"http"`
			} `json:"requestContext"`
		}
		if err := json.Unmarshal(p.events[name], &ev); err != nil {
			// An array or other JSON shape is not an HTTP API event.
			var anyJSON any
			if json.Unmarshal(p.events[name], &anyJSON) != nil {
				problems = append(problems, fmt.Sprintf("events/%s: invalid JSON: %v", name, err))
			}
			continue
		}
		if ev.RouteKey == "" && ev.RequestContext.HTTP == nil {
			continue // not an HTTP API event (SQS, ...)
		}
		if !routes[ev.RouteKey] {
			problems = append(problems, fmt.Sprintf("events/%s: routeKey %q is not a route of the template", name, ev.RouteKey))
		}
	}
	return problems
}

func checkAlarms(p project) (problems []string) {
	type metric struct{ namespace, name, dimension string }
	have := map[metric]bool{}
	for _, id := range sortedKeys(p.tpl.Resources) {
		r := p.tpl.Resources[id]
		if r.Type != "AWS::CloudWatch::Alarm" {
			continue
		}
		dims, _ := r.Properties["Dimensions"].([]any)
		for _, d := range dims {
			dm, _ := d.(map[string]any)
			var target string
			switch v := dm["Value"].(type) {
			case string: // a custom metric's dimension, e.g. Function=reconcile
				target = v
			case map[string]any:
				if ref, ok := v["Ref"].(string); ok {
					target = ref
				} else if ga, ok := v["Fn::GetAtt"].([]any); ok && len(ga) == 2 {
					target = fmt.Sprint(ga[0])
				}
			}
			have[metric{fmt.Sprint(r.Properties["Namespace"]), fmt.Sprint(r.Properties["MetricName"]), target}] = true
		}
		if _, ok := r.Properties["AlarmActions"]; !ok {
			problems = append(problems, id+": no AlarmActions")
		}
	}
	want := []metric{
		{"AWS/SQS", "ApproximateNumberOfMessagesVisible", "RevocationDeadLetterQueue"},
		{"AWS/SQS", "ApproximateAgeOfOldestMessage", "RevocationQueue"},
		{"AWS/Lambda", "Errors", hookFn},
		{"AWS/Lambda", "Throttles", hookFn},
		{"AWS/Lambda", "Errors", revokeFn},
		{"AWS/Lambda", "Throttles", revokeFn},
		{"AWS/Lambda", "Errors", reconcileFn},
		{"OktaTokenRevoker", "HookDeliveriesNotQueued", "okta-hook"},
		{"OktaTokenRevoker", "HookSecretUnavailable", "okta-hook"},
		{"OktaTokenRevoker", "Deferred", "sqs"},
		{"OktaTokenRevoker", "HookEventsUnreadable", "okta-hook"},
		{"OktaTokenRevoker", "ReconcileEventsUnreadable", "reconcile"},
	}
	for _, m := range want {
		if !have[m] {
			problems = append(problems, fmt.Sprintf("no alarm on %s %s of %s", m.namespace, m.name, m.dimension))
		}
	}
	return problems
}

func checkOutputs(p project) (problems []string) {
	outputs, _ := p.tpl.Raw["Outputs"].(map[string]any)
	for _, name := range []string{"HookUrl", "ApiUrl", "RevocationQueueUrl", "DeadLetterQueueUrl", "HookSecretArn", "OktaApiSecretArn"} {
		if _, ok := outputs[name]; !ok {
			problems = append(problems, "no output "+name)
		}
	}
	hook, _ := outputs["HookUrl"].(map[string]any)
	value, _ := hook["Value"].(map[string]any)
	if sub, _ := value["Fn::Sub"].(string); !strings.HasSuffix(sub, "/hooks/okta") {
		problems = append(problems, fmt.Sprintf("output HookUrl %v does not end in /hooks/okta", hook["Value"]))
	}
	return problems
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
