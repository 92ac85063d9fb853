// Package samtemplate reads an AWS SAM template (template.yaml) into a small
// typed model: parameters, functions with Globals.Function merged in, their
// events normalised (HTTP API routes with their effective authorizer, SQS
// event sources), queues with their redrive policy and secrets.
//
// It exists for what cfn-lint cannot check (project invariants tested over
// the real template) and for the local runner, which serves the template's
// routes and queues without Docker. It does not evaluate the template: values
// set with intrinsic functions are kept as Value{Intrinsic, Args}, except
// that numeric properties given as !Ref to a parameter take the parameter's
// Default.
package samtemplate

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// SAM's defaults for properties a function may leave out.
const (
	DefaultTimeout    = 3   // seconds
	DefaultMemorySize = 128 // MB
	// DefaultSQSBatchSize is the SQS event source's default BatchSize.
	DefaultSQSBatchSize = 10
	// DefaultVisibilityTimeout is SQS's default queue visibility timeout in seconds.
	DefaultVisibilityTimeout = 30
	// DefaultMessageRetentionPeriod is SQS's default retention in seconds (4 days).
	DefaultMessageRetentionPeriod = 345600
)

// Resource types the model understands.
const (
	TypeFunction = "AWS::Serverless::Function"
	TypeHTTPAPI  = "AWS::Serverless::HttpApi"
	TypeQueue    = "AWS::SQS::Queue"
	TypeSecret   = "AWS::SecretsManager::Secret"
)

// Template is the typed view of a SAM template.
type Template struct {
	Parameters map[string]Parameter
	// Functions by logical id, with Globals.Function merged in.
	Functions map[string]Function
	// Queues by logical id (AWS::SQS::Queue).
	Queues map[string]Queue
	// Secrets lists the logical ids of AWS::SecretsManager::Secret resources, sorted.
	Secrets []string
	// HTTPAPIs by logical id (AWS::Serverless::HttpApi).
	HTTPAPIs map[string]HTTPAPI
	// Resources by logical id: every resource's type, condition and properties
	// as written (Globals not merged).
	Resources map[string]Resource
	// Raw is the whole document, short-form tags turned into their long form
	// ({"Ref": x}, {"Fn::GetAtt": [r, a]}, {"Fn::Sub": ...}).
	Raw map[string]any

	// implicitAPIAuthorizer is Globals.HttpApi.Auth.DefaultAuthorizer, for
	// events on SAM's implicit API (no ApiId).
	implicitAPIAuthorizer string
}

// Parameter is a template parameter.
type Parameter struct {
	Type, Default  string
	Description    string
	AllowedPattern string
	AllowedValues  []string
	// HasDefault tells an empty Default ("") from none at all.
	HasDefault bool
}

// Check reports whether value is acceptable for p, as CloudFormation
// checks a parameter value: one of AllowedValues, a whole match of
// AllowedPattern, a number for Type Number.
func (p Parameter) Check(value string) error {
	if len(p.AllowedValues) > 0 && !slices.Contains(p.AllowedValues, value) {
		return fmt.Errorf("value %q is not one of %s", value, strings.Join(p.AllowedValues, ", "))
	}
	if p.AllowedPattern != "" {
		re, err := regexp.Compile("^(?:" + p.AllowedPattern + ")$")
		if err != nil {
			return fmt.Errorf("AllowedPattern %q: %w", p.AllowedPattern, err)
		}
		if !re.MatchString(value) {
			return fmt.Errorf("value %q does not match %s", value, p.AllowedPattern)
		}
	}
	if p.Type == "Number" {
		if _, err := strconv.ParseFloat(value, 64); err != nil {
			return fmt.Errorf("value %q is not a number", value)
		}
	}
	return nil
}

// CheckParameters reports overrides (name to value, as given to sam deploy
// --parameter-overrides) that name no parameter of t or that the parameter
// does not accept, so a misspelt name is not silently ignored.
func (t *Template) CheckParameters(overrides map[string]string) error {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(overrides)) {
		p, ok := t.Parameters[name]
		if !ok {
			errs = append(errs, fmt.Errorf("parameter %s: the template has no such parameter (it has %s)",
				name, strings.Join(slices.Sorted(maps.Keys(t.Parameters)), ", ")))
			continue
		}
		if err := p.Check(overrides[name]); err != nil {
			errs = append(errs, fmt.Errorf("parameter %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// Resource is one entry of the Resources section.
type Resource struct {
	LogicalID      string
	Type           string
	Condition      string
	DeletionPolicy string
	Properties     map[string]any
	Metadata       map[string]any
}

// Function is an AWS::Serverless::Function with Globals.Function merged in.
type Function struct {
	LogicalID     string
	CodeURI       string // "" when CodeUri is not a plain path
	Handler       string
	Runtime       string
	Architectures []string
	BuildMethod   string // Metadata.BuildMethod
	Timeout       int    // seconds; SAM's default 3 when absent
	MemorySize    int    // MB; SAM's default 128 when absent
	Environment   map[string]Value
	Events        []Event // sorted by Name
	Policies      []any   // as written: policy names, policy templates or inline statements
	Role          string  // logical id of the execution role (!GetAtt R.Arn), the literal ARN, or "" (SAM creates one)
	// Properties are the merged properties, in long form.
	Properties map[string]any
}

// Value is a property value: a literal string, or an intrinsic function
// kept unevaluated.
type Value struct {
	Literal   string // set when not intrinsic
	Intrinsic string // "Ref", "Fn::GetAtt", "Fn::Sub", "Fn::If", ...
	Args      any
}

// IsIntrinsic reports whether v is an intrinsic function.
func (v Value) IsIntrinsic() bool { return v.Intrinsic != "" }

// String renders v for messages: the literal, or the intrinsic in long form.
func (v Value) String() string {
	if !v.IsIntrinsic() {
		return v.Literal
	}
	return fmt.Sprintf("{%s: %v}", v.Intrinsic, v.Args)
}

// Event is a function's event source.
type Event struct {
	Name string
	Type string // "HttpApi", "SQS", ...
	// HttpApi events.
	Method     string // upper case; "ANY" stays "ANY"
	Path       string
	Authorizer string // Auth.Authorizer, else the API's DefaultAuthorizer, else "NONE"
	APIID      string // logical id of the HttpApi ("" = SAM's implicit API)
	// TimeoutInMillis is the integration timeout; 0 = API Gateway's default (30 s).
	TimeoutInMillis int
	// SQS events.
	Queue                          string // logical id of the queue (the literal ARN when not a reference)
	BatchSize                      int    // SAM's default 10 when absent
	MaximumBatchingWindowInSeconds int
	MaximumConcurrency             int // ScalingConfig.MaximumConcurrency; 0 = unset
	FunctionResponseTypes          []string
	// Schedule events (an EventBridge scheduled rule) and ScheduleV2 events
	// (EventBridge Scheduler).
	// Schedule is the schedule expression (Schedule's Schedule, ScheduleV2's
	// ScheduleExpression) as written: "rate(5 minutes)", "cron(...)", or an
	// unevaluated intrinsic such as !Sub.
	Schedule Value
	// Enabled is Schedule's Enabled ("true", "false") or the State of either
	// ("ENABLED", "DISABLED"), as written; the zero Value when neither is
	// set, which SAM takes as enabled.
	Enabled Value
	// Input is the JSON text sent to the function instead of the scheduled
	// event; the zero Value when unset.
	Input Value
	// Properties as written, in long form.
	Properties map[string]any
}

// RouteKey is the API Gateway route key of an HttpApi event,
// "GET /users/{userId}/clients"; "" for other events.
func (e Event) RouteKey() string {
	if e.Type != "HttpApi" {
		return ""
	}
	return e.Method + " " + e.Path
}

// HTTPAPI is an AWS::Serverless::HttpApi.
type HTTPAPI struct {
	LogicalID         string
	DefaultAuthorizer string // Auth.DefaultAuthorizer ("" = none)
	Properties        map[string]any
}

// Route is one HttpApi route and the function that serves it.
type Route struct {
	Key        string // "POST /revocations"
	Function   string // logical id
	Authorizer string // "AWS_IAM", "NONE", ...
	APIID      string
}

// Queue is an AWS::SQS::Queue.
type Queue struct {
	LogicalID              string
	VisibilityTimeout      int    // seconds; SQS's default 30 when absent
	DeadLetterQueue        string // logical id of the redrive target ("" = none)
	MaxReceiveCount        int
	MessageRetentionPeriod int // seconds; SQS's default 4 days when absent
	FIFO                   bool
}

// Load reads and parses the SAM template at path.
func Load(path string) (*Template, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load SAM template: %w", err)
	}
	t, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("load SAM template %s: %w", path, err)
	}
	return t, nil
}

// Parse parses a SAM template.
func Parse(data []byte) (*Template, error) {
	doc, err := decodeYAML(data)
	if err != nil {
		return nil, err
	}
	raw, ok := doc.(map[string]any)
	if !ok {
		return nil, errors.New("template is not a mapping")
	}
	t := &Template{
		Parameters: map[string]Parameter{},
		Functions:  map[string]Function{},
		Queues:     map[string]Queue{},
		HTTPAPIs:   map[string]HTTPAPI{},
		Resources:  map[string]Resource{},
		Raw:        raw,
	}
	if err := t.parseParameters(raw["Parameters"]); err != nil {
		return nil, err
	}
	resources, err := mapOf(raw["Resources"], "Resources")
	if err != nil {
		return nil, err
	}
	if len(resources) == 0 {
		return nil, errors.New("template has no Resources")
	}
	for id, r := range resources {
		res, err := parseResource(id, r)
		if err != nil {
			return nil, err
		}
		t.Resources[id] = res
	}
	globals, err := mapOf(raw["Globals"], "Globals")
	if err != nil {
		return nil, err
	}
	if g, ok := globals["HttpApi"]; ok {
		api, err := parseHTTPAPI(Resource{LogicalID: "Globals"}, map[string]any{"HttpApi": g})
		if err != nil {
			return nil, err
		}
		t.implicitAPIAuthorizer = api.DefaultAuthorizer
	}
	// HttpApis first: function events need their default authorizers.
	for _, id := range sortedKeys(t.Resources) {
		res := t.Resources[id]
		switch res.Type {
		case TypeHTTPAPI:
			api, err := parseHTTPAPI(res, globals)
			if err != nil {
				return nil, err
			}
			t.HTTPAPIs[id] = api
		case TypeQueue:
			q, err := t.parseQueue(res)
			if err != nil {
				return nil, err
			}
			t.Queues[id] = q
		case TypeSecret:
			t.Secrets = append(t.Secrets, id)
		}
	}
	for _, id := range sortedKeys(t.Resources) {
		if res := t.Resources[id]; res.Type == TypeFunction {
			fn, err := t.parseFunction(res, globals)
			if err != nil {
				return nil, err
			}
			t.Functions[id] = fn
		}
	}
	return t, nil
}

// Routes lists every HttpApi route of every function, sorted by key.
func (t *Template) Routes() []Route {
	var routes []Route
	for _, fn := range t.Functions {
		for _, ev := range fn.Events {
			if ev.Type == "HttpApi" {
				routes = append(routes, Route{Key: ev.RouteKey(), Function: fn.LogicalID, Authorizer: ev.Authorizer, APIID: ev.APIID})
			}
		}
	}
	slices.SortFunc(routes, func(a, b Route) int {
		return cmp.Or(strings.Compare(a.Key, b.Key), strings.Compare(a.APIID, b.APIID))
	})
	return routes
}

// FunctionNames lists the functions' logical ids, sorted.
func (t *Template) FunctionNames() []string { return sortedKeys(t.Functions) }

func (t *Template) parseParameters(v any) error {
	params, err := mapOf(v, "Parameters")
	if err != nil {
		return err
	}
	for name, p := range params {
		pm, err := mapOf(p, "parameter "+name)
		if err != nil {
			return err
		}
		var param Parameter
		if param.Type, err = stringOf(pm["Type"]); err != nil {
			return fmt.Errorf("parameter %s: Type: %w", name, err)
		}
		if d, ok := pm["Default"]; ok {
			param.HasDefault = true
			if param.Default, err = ScalarString(d); err != nil {
				return fmt.Errorf("parameter %s: Default: %w", name, err)
			}
		}
		if param.Description, err = stringOf(pm["Description"]); err != nil {
			return fmt.Errorf("parameter %s: Description: %w", name, err)
		}
		if param.AllowedPattern, err = stringOf(pm["AllowedPattern"]); err != nil {
			return fmt.Errorf("parameter %s: AllowedPattern: %w", name, err)
		}
		if av, ok := pm["AllowedValues"]; ok {
			list, ok := av.([]any)
			if !ok {
				return fmt.Errorf("parameter %s: AllowedValues is not a list", name)
			}
			for _, item := range list {
				s, err := ScalarString(item)
				if err != nil {
					return fmt.Errorf("parameter %s: AllowedValues: %w", name, err)
				}
				param.AllowedValues = append(param.AllowedValues, s)
			}
		}
		t.Parameters[name] = param
	}
	return nil
}

func parseResource(id string, v any) (Resource, error) {
	m, err := mapOf(v, "resource "+id)
	if err != nil {
		return Resource{}, err
	}
	res := Resource{LogicalID: id}
	if res.Type, err = stringOf(m["Type"]); err != nil || res.Type == "" {
		return Resource{}, fmt.Errorf("resource %s: Type missing or not a string", id)
	}
	if res.Condition, err = stringOf(m["Condition"]); err != nil {
		return Resource{}, fmt.Errorf("resource %s: Condition: %w", id, err)
	}
	if res.DeletionPolicy, err = stringOf(m["DeletionPolicy"]); err != nil {
		return Resource{}, fmt.Errorf("resource %s: DeletionPolicy: %w", id, err)
	}
	if res.Properties, err = mapOf(m["Properties"], "resource "+id+" Properties"); err != nil {
		return Resource{}, err
	}
	if res.Metadata, err = mapOf(m["Metadata"], "resource "+id+" Metadata"); err != nil {
		return Resource{}, err
	}
	return res, nil
}

func parseHTTPAPI(res Resource, globals map[string]any) (HTTPAPI, error) {
	props := res.Properties
	if g, ok := globals["HttpApi"]; ok {
		gm, err := mapOf(g, "Globals.HttpApi")
		if err != nil {
			return HTTPAPI{}, err
		}
		props = mergeGlobals(gm, props)
	}
	api := HTTPAPI{LogicalID: res.LogicalID, Properties: props}
	auth, err := mapOf(props["Auth"], "HttpApi "+res.LogicalID+" Auth")
	if err != nil {
		return HTTPAPI{}, err
	}
	if api.DefaultAuthorizer, err = stringOf(auth["DefaultAuthorizer"]); err != nil {
		return HTTPAPI{}, fmt.Errorf("HttpApi %s: Auth.DefaultAuthorizer: %w", res.LogicalID, err)
	}
	return api, nil
}

func (t *Template) parseQueue(res Resource) (Queue, error) {
	p := res.Properties
	q := Queue{LogicalID: res.LogicalID}
	var err error
	if q.VisibilityTimeout, err = t.intProp(p, "VisibilityTimeout", DefaultVisibilityTimeout); err != nil {
		return Queue{}, fmt.Errorf("queue %s: %w", res.LogicalID, err)
	}
	if q.MessageRetentionPeriod, err = t.intProp(p, "MessageRetentionPeriod", DefaultMessageRetentionPeriod); err != nil {
		return Queue{}, fmt.Errorf("queue %s: %w", res.LogicalID, err)
	}
	if fifo, ok := p["FifoQueue"]; ok {
		s, err := ScalarString(fifo)
		if err != nil {
			return Queue{}, fmt.Errorf("queue %s: FifoQueue: %w", res.LogicalID, err)
		}
		q.FIFO = s == "true"
	}
	if rp, ok := p["RedrivePolicy"]; ok {
		rpm, err := mapOf(rp, "queue "+res.LogicalID+" RedrivePolicy")
		if err != nil {
			return Queue{}, err
		}
		if q.DeadLetterQueue, err = referencedResource(rpm["deadLetterTargetArn"]); err != nil {
			return Queue{}, fmt.Errorf("queue %s: RedrivePolicy.deadLetterTargetArn: %w", res.LogicalID, err)
		}
		if q.MaxReceiveCount, err = t.intProp(rpm, "maxReceiveCount", 0); err != nil {
			return Queue{}, fmt.Errorf("queue %s: RedrivePolicy: %w", res.LogicalID, err)
		}
	}
	return q, nil
}

func (t *Template) parseFunction(res Resource, globals map[string]any) (Function, error) {
	id := res.LogicalID
	props := res.Properties
	if g, ok := globals["Function"]; ok {
		gm, err := mapOf(g, "Globals.Function")
		if err != nil {
			return Function{}, err
		}
		props = mergeGlobals(gm, props)
	}
	fn := Function{LogicalID: id, Properties: props, Environment: map[string]Value{}}
	var err error
	wrap := func(field string, err error) error { return fmt.Errorf("function %s: %s: %w", id, field, err) }
	if s, ok := props["CodeUri"].(string); ok {
		fn.CodeURI = s
	}
	if fn.Handler, err = stringOf(props["Handler"]); err != nil {
		return Function{}, wrap("Handler", err)
	}
	if fn.Runtime, err = stringOf(props["Runtime"]); err != nil {
		return Function{}, wrap("Runtime", err)
	}
	if fn.BuildMethod, err = stringOf(res.Metadata["BuildMethod"]); err != nil {
		return Function{}, wrap("Metadata.BuildMethod", err)
	}
	if archs, ok := props["Architectures"]; ok {
		list, ok := archs.([]any)
		if !ok {
			return Function{}, wrap("Architectures", errors.New("not a list"))
		}
		for _, a := range list {
			s, err := stringOf(a)
			if err != nil {
				return Function{}, wrap("Architectures", err)
			}
			fn.Architectures = append(fn.Architectures, s)
		}
	}
	if fn.Timeout, err = t.intProp(props, "Timeout", DefaultTimeout); err != nil {
		return Function{}, wrap("Timeout", err)
	}
	if fn.MemorySize, err = t.intProp(props, "MemorySize", DefaultMemorySize); err != nil {
		return Function{}, wrap("MemorySize", err)
	}
	env, err := mapOf(props["Environment"], "Environment")
	if err != nil {
		return Function{}, wrap("Environment", err)
	}
	vars, err := mapOf(env["Variables"], "Variables")
	if err != nil {
		return Function{}, wrap("Environment", err)
	}
	for name, v := range vars {
		val, err := valueOf(v)
		if err != nil {
			return Function{}, wrap("Environment.Variables."+name, err)
		}
		fn.Environment[name] = val
	}
	if r, ok := props["Role"]; ok {
		if fn.Role, err = referencedResource(r); err != nil {
			return Function{}, wrap("Role", err)
		}
	}
	switch p := props["Policies"].(type) {
	case nil:
	case []any:
		fn.Policies = p
	default: // a single policy name, document or template
		fn.Policies = []any{p}
	}
	events, err := mapOf(props["Events"], "Events")
	if err != nil {
		return Function{}, wrap("Events", err)
	}
	for _, name := range sortedKeys(events) {
		ev, err := t.parseEvent(name, events[name])
		if err != nil {
			return Function{}, wrap("Events."+name, err)
		}
		fn.Events = append(fn.Events, ev)
	}
	return fn, nil
}

func (t *Template) parseEvent(name string, v any) (Event, error) {
	m, err := mapOf(v, "event")
	if err != nil {
		return Event{}, err
	}
	ev := Event{Name: name}
	if ev.Type, err = stringOf(m["Type"]); err != nil || ev.Type == "" {
		return Event{}, errors.New("event Type missing or not a string")
	}
	if ev.Properties, err = mapOf(m["Properties"], "Properties"); err != nil {
		return Event{}, err
	}
	p := ev.Properties
	switch ev.Type {
	case "HttpApi":
		if ev.Method, err = stringOf(p["Method"]); err != nil {
			return Event{}, fmt.Errorf("property Method: %w", err)
		}
		if ev.Path, err = stringOf(p["Path"]); err != nil {
			return Event{}, fmt.Errorf("property Path: %w", err)
		}
		// Without Method and Path SAM routes everything ($default).
		if ev.Method == "" && ev.Path == "" {
			ev.Method, ev.Path = "ANY", "/{proxy+}"
		}
		if ev.Method == "" || ev.Path == "" {
			return Event{}, errors.New("an HttpApi event needs both Method and Path")
		}
		ev.Method = strings.ToUpper(ev.Method)
		if apiID, ok := p["ApiId"]; ok {
			if ev.APIID, err = referencedResource(apiID); err != nil {
				return Event{}, fmt.Errorf("ApiId: %w", err)
			}
		}
		if ev.TimeoutInMillis, err = t.intProp(p, "TimeoutInMillis", 0); err != nil {
			return Event{}, err
		}
		auth, err := mapOf(p["Auth"], "Auth")
		if err != nil {
			return Event{}, err
		}
		if ev.Authorizer, err = stringOf(auth["Authorizer"]); err != nil {
			return Event{}, fmt.Errorf("Auth.Authorizer: %w", err)
		}
		if ev.Authorizer == "" {
			ev.Authorizer = t.defaultAuthorizer(ev.APIID)
		}
	case "SQS":
		if ev.Queue, err = referencedResource(p["Queue"]); err != nil {
			return Event{}, fmt.Errorf("Queue: %w", err)
		}
		if ev.BatchSize, err = t.intProp(p, "BatchSize", DefaultSQSBatchSize); err != nil {
			return Event{}, err
		}
		if ev.MaximumBatchingWindowInSeconds, err = t.intProp(p, "MaximumBatchingWindowInSeconds", 0); err != nil {
			return Event{}, err
		}
		sc, err := mapOf(p["ScalingConfig"], "ScalingConfig")
		if err != nil {
			return Event{}, err
		}
		if ev.MaximumConcurrency, err = t.intProp(sc, "MaximumConcurrency", 0); err != nil {
			return Event{}, fmt.Errorf("ScalingConfig: %w", err)
		}
		if frt, ok := p["FunctionResponseTypes"]; ok {
			list, ok := frt.([]any)
			if !ok {
				return Event{}, errors.New("FunctionResponseTypes is not a list")
			}
			for _, item := range list {
				s, err := stringOf(item)
				if err != nil {
					return Event{}, fmt.Errorf("FunctionResponseTypes: %w", err)
				}
				ev.FunctionResponseTypes = append(ev.FunctionResponseTypes, s)
			}
		}
	case "Schedule", "ScheduleV2":
		if err := parseSchedule(&ev); err != nil {
			return Event{}, err
		}
	}
	return ev, nil
}

// parseSchedule fills the schedule fields of a Schedule or ScheduleV2 event.
func parseSchedule(ev *Event) error {
	p := ev.Properties
	key := "Schedule"
	if ev.Type == "ScheduleV2" {
		key = "ScheduleExpression"
	}
	expr, ok := p[key]
	if !ok {
		return fmt.Errorf("a %s event needs %s", ev.Type, key)
	}
	var err error
	if ev.Schedule, err = valueOf(expr); err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	enabled, hasEnabled := p["Enabled"]
	state, hasState := p["State"]
	switch {
	case hasEnabled && ev.Type == "ScheduleV2":
		return errors.New("a ScheduleV2 event takes State, not Enabled")
	case hasEnabled && hasState:
		return errors.New("set Enabled or State, not both")
	case hasEnabled:
		if ev.Enabled, err = valueOf(enabled); err != nil {
			return fmt.Errorf("property Enabled: %w", err)
		}
	case hasState:
		if ev.Enabled, err = valueOf(state); err != nil {
			return fmt.Errorf("property State: %w", err)
		}
	}
	if in, ok := p["Input"]; ok {
		if ev.Input, err = valueOf(in); err != nil {
			return fmt.Errorf("property Input: %w", err)
		}
	}
	return nil
}

// defaultAuthorizer is the authorizer an HttpApi route gets when it names
// none: its API's DefaultAuthorizer, or "NONE" (an open route).
func (t *Template) defaultAuthorizer(apiID string) string {
	def := t.implicitAPIAuthorizer
	if apiID != "" {
		def = t.HTTPAPIs[apiID].DefaultAuthorizer
	}
	if def == "" {
		return "NONE"
	}
	return def
}

// intProp reads an integer property, accepting numbers, numeric strings
// (CloudFormation allows both) and !Ref to a parameter with a numeric
// Default. def is returned when the property is absent.
func (t *Template) intProp(m map[string]any, key string, def int) (int, error) {
	v, ok := m[key]
	if !ok {
		return def, nil
	}
	if ref, isRef := intrinsicArgs(v, "Ref"); isRef {
		name, _ := ref.(string)
		p, ok := t.Parameters[name]
		if !ok || !p.HasDefault {
			return 0, fmt.Errorf("%s: !Ref %v is not a parameter with a Default", key, ref)
		}
		v = p.Default
	}
	switch n := v.(type) {
	case int:
		return n, nil
	case int64, uint64:
		return 0, fmt.Errorf("%s: %v is out of range", key, n)
	case float64:
		if n != math.Trunc(n) || n > math.MaxInt32 || n < math.MinInt32 {
			return 0, fmt.Errorf("%s: %v is not an integer", key, n)
		}
		return int(n), nil
	case string:
		i, err := strconv.Atoi(strings.TrimSpace(n))
		if err != nil {
			return 0, fmt.Errorf("%s: %q is not an integer", key, n)
		}
		return i, nil
	}
	return 0, fmt.Errorf("%s: %v is not an integer", key, v)
}

// mergeGlobals applies SAM's Globals rules: the resource's value wins for
// scalars and intrinsics, maps merge recursively, lists concatenate with the
// global entries first.
func mergeGlobals(global, local map[string]any) map[string]any {
	out := make(map[string]any, len(global)+len(local))
	for k, v := range global {
		out[k] = v
	}
	for k, lv := range local {
		out[k] = mergeValue(out[k], lv)
	}
	return out
}

func mergeValue(g, l any) any {
	switch lv := l.(type) {
	case map[string]any:
		gm, ok := g.(map[string]any)
		if !ok || isIntrinsic(gm) || isIntrinsic(lv) {
			return l
		}
		return mergeGlobals(gm, lv)
	case []any:
		gl, ok := g.([]any)
		if !ok {
			return l
		}
		return append(slices.Clip(gl), lv...)
	}
	return l
}

// isIntrinsic reports whether m is a long-form intrinsic: one key, "Ref",
// "Condition" or "Fn::...".
func isIntrinsic(m map[string]any) bool {
	if len(m) != 1 {
		return false
	}
	for k := range m {
		return k == "Ref" || k == "Condition" || strings.HasPrefix(k, "Fn::")
	}
	return false
}

// intrinsicArgs returns the arguments of v when v is the intrinsic fn.
func intrinsicArgs(v any, fn string) (any, bool) {
	m, ok := v.(map[string]any)
	if !ok || !isIntrinsic(m) {
		return nil, false
	}
	args, ok := m[fn]
	return args, ok
}

// valueOf turns a property value into a Value.
func valueOf(v any) (Value, error) {
	if m, ok := v.(map[string]any); ok && isIntrinsic(m) {
		for k, args := range m {
			return Value{Intrinsic: k, Args: args}, nil
		}
	}
	s, err := ScalarString(v)
	if err != nil {
		return Value{}, err
	}
	return Value{Literal: s}, nil
}

// referencedResource returns the logical id named by !Ref X or !GetAtt X.Attr,
// or the literal string when v is one (an ARN or URL written out).
func referencedResource(v any) (string, error) {
	if args, ok := intrinsicArgs(v, "Ref"); ok {
		if s, ok := args.(string); ok && s != "" {
			return s, nil
		}
		return "", fmt.Errorf("!Ref %v: want a name", args)
	}
	if args, ok := intrinsicArgs(v, "Fn::GetAtt"); ok {
		if list, ok := args.([]any); ok && len(list) == 2 {
			if s, ok := list[0].(string); ok && s != "" {
				return s, nil
			}
		}
		return "", fmt.Errorf("!GetAtt %v: want [Resource, Attribute]", args)
	}
	if s, ok := v.(string); ok {
		return s, nil
	}
	return "", fmt.Errorf("%v is neither a reference nor a string", v)
}

// mapOf returns v as a mapping; nil (absent) is an empty mapping.
func mapOf(v any, what string) (map[string]any, error) {
	switch m := v.(type) {
	case nil:
		return map[string]any{}, nil
	case map[string]any:
		return m, nil
	}
	return nil, fmt.Errorf("%s is not a mapping", what)
}

// stringOf returns v as a string; nil (absent) is "".
func stringOf(v any) (string, error) {
	switch s := v.(type) {
	case nil:
		return "", nil
	case string:
		return s, nil
	}
	return "", fmt.Errorf("%v is not a string", v)
}

// ScalarString renders a YAML scalar the way CloudFormation sees it: a
// string. nil is "", a map or a list is an error.
func ScalarString(v any) (string, error) {
	switch s := v.(type) {
	case nil:
		return "", nil
	case string:
		return s, nil
	case bool:
		return strconv.FormatBool(s), nil
	case int:
		return strconv.Itoa(s), nil
	case int64:
		return strconv.FormatInt(s, 10), nil
	case uint64:
		return strconv.FormatUint(s, 10), nil
	case float64:
		return strconv.FormatFloat(s, 'f', -1, 64), nil
	}
	return "", fmt.Errorf("%v is not a scalar", v)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
