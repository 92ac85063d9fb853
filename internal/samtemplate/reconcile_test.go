package samtemplate_test

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/okta-token-revoker/okta-token-revoker/internal/dedupe"
	"github.com/okta-token-revoker/okta-token-revoker/internal/handlers/reconcile"
	"github.com/okta-token-revoker/okta-token-revoker/internal/revocation"
)

// Invariants of the System Log reconciliation (issue 9): the dedupe table
// as internal/dedupe expects it, least-privilege access to it, the poll's
// schedule and time budget, the optional log stream rule matching exactly
// the event types the service knows, and the hook delivery failure alarm.

// dedupeActions are the only DynamoDB actions internal/dedupe uses.
var dedupeActions = []string{"dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}

const (
	dedupeTable   = "DedupeTable"
	logStreamRule = "OktaLogStreamRule"
)

func checkReconcile(p project) (problems []string) {
	problems = append(problems, checkDedupeTable(p)...)
	problems = append(problems, checkDedupeAccess(p)...)
	problems = append(problems, checkPoll(p)...)
	problems = append(problems, checkLogStream(p)...)
	problems = append(problems, checkHookFailureAlarm(p)...)
	return problems
}

func checkDedupeTable(p project) (problems []string) {
	t, ok := p.tpl.Resources[dedupeTable]
	if !ok || t.Type != "AWS::DynamoDB::Table" {
		return []string{dedupeTable + ": no AWS::DynamoDB::Table"}
	}
	wantKey := []any{map[string]any{"AttributeName": dedupe.KeyAttribute, "KeyType": "HASH"}}
	if !reflect.DeepEqual(t.Properties["KeySchema"], wantKey) {
		problems = append(problems, fmt.Sprintf("%s: KeySchema %v, want only %s as HASH key", dedupeTable, t.Properties["KeySchema"], dedupe.KeyAttribute))
	}
	wantAttrs := []any{map[string]any{"AttributeName": dedupe.KeyAttribute, "AttributeType": "S"}}
	if !reflect.DeepEqual(t.Properties["AttributeDefinitions"], wantAttrs) {
		problems = append(problems, fmt.Sprintf("%s: AttributeDefinitions %v, want %s of type S", dedupeTable, t.Properties["AttributeDefinitions"], dedupe.KeyAttribute))
	}
	ttl, _ := t.Properties["TimeToLiveSpecification"].(map[string]any)
	if ttl["AttributeName"] != dedupe.TTLAttribute || ttl["Enabled"] != true {
		problems = append(problems, fmt.Sprintf("%s: TTL %v, want %s enabled (records would never expire)", dedupeTable, ttl, dedupe.TTLAttribute))
	}
	if t.Properties["BillingMode"] != "PAY_PER_REQUEST" {
		problems = append(problems, dedupeTable+": BillingMode is not PAY_PER_REQUEST (provisioned capacity would throttle the hook)")
	}
	return problems
}

// checkDedupeAccess: exactly the functions given DEDUPE_TABLE_NAME may use
// the table, with exactly the actions internal/dedupe calls, on the table
// only.
func checkDedupeAccess(p project) (problems []string) {
	for _, id := range p.tpl.FunctionNames() {
		fn := p.tpl.Functions[id]
		_, usesTable := fn.Environment["DEDUPE_TABLE_NAME"]
		var got []string
		for _, doc := range rolePolicies(p.tpl.Resources[fn.Role]) {
			for _, st := range statements(doc) {
				var dyn []string
				for _, a := range actionsOf(st) {
					if strings.HasPrefix(a, "dynamodb:") {
						dyn = append(dyn, a)
					}
				}
				if len(dyn) == 0 {
					continue
				}
				got = append(got, dyn...)
				want := map[string]any{"Fn::GetAtt": []any{dedupeTable, "Arn"}}
				if !reflect.DeepEqual(st["Resource"], want) {
					problems = append(problems, fmt.Sprintf("%s: DynamoDB actions on %v, want only %s.Arn", id, st["Resource"], dedupeTable))
				}
			}
		}
		sort.Strings(got)
		switch {
		case !usesTable && len(got) > 0:
			problems = append(problems, fmt.Sprintf("%s: DynamoDB actions %v without DEDUPE_TABLE_NAME", id, got))
		case usesTable && !slices.Equal(got, dedupeActions):
			problems = append(problems, fmt.Sprintf("%s: DynamoDB actions %v, want exactly %v", id, got, dedupeActions))
		}
	}
	return problems
}

func checkPoll(p project) (problems []string) {
	fn, ok := p.tpl.Functions[reconcileFn]
	if !ok {
		return []string{"missing function " + reconcileFn}
	}
	var schedules int
	for _, ev := range fn.Events {
		switch ev.Type {
		case "Schedule":
			schedules++
			sub, _ := ev.Properties["Schedule"].(map[string]any)
			if expr, _ := sub["Fn::Sub"].(string); expr != "rate(${ReconcileIntervalMinutes} minutes)" {
				problems = append(problems, fmt.Sprintf("%s.%s: Schedule %v, want rate(${ReconcileIntervalMinutes} minutes)", reconcileFn, ev.Name, ev.Properties["Schedule"]))
			}
		default:
			problems = append(problems, fmt.Sprintf("%s.%s: event type %s; the reconciler is triggered by its schedule and the log stream rule only", reconcileFn, ev.Name, ev.Type))
		}
	}
	if schedules != 1 {
		problems = append(problems, fmt.Sprintf("%s: %d Schedule events, want 1", reconcileFn, schedules))
	}
	if param, ok := p.tpl.Parameters["ReconcileIntervalMinutes"]; !ok || param.Default == "" {
		problems = append(problems, "parameter ReconcileIntervalMinutes missing or without Default")
	}
	// A claim must outlive the run that holds it, or another producer could
	// take over an event the run is still queueing.
	if run := time.Duration(fn.Timeout) * time.Second; run >= dedupe.DefaultLease {
		problems = append(problems, fmt.Sprintf("%s: Timeout %s is not shorter than the dedupe claim lease %s", reconcileFn, run, dedupe.DefaultLease))
	}
	return problems
}

func checkLogStream(p project) (problems []string) {
	rule, ok := p.tpl.Resources[logStreamRule]
	if !ok || rule.Type != "AWS::Events::Rule" {
		return []string{logStreamRule + ": no AWS::Events::Rule for Okta's log stream"}
	}
	if rule.Condition != "HasOktaEventBus" {
		problems = append(problems, fmt.Sprintf("%s: Condition %q, want HasOktaEventBus (the stream is optional)", logStreamRule, rule.Condition))
	}
	if !reflect.DeepEqual(rule.Properties["EventBusName"], map[string]any{"Ref": "OktaEventBusName"}) {
		problems = append(problems, fmt.Sprintf("%s: EventBusName %v, want !Ref OktaEventBusName", logStreamRule, rule.Properties["EventBusName"]))
	}
	pattern, _ := rule.Properties["EventPattern"].(map[string]any)
	if !reflect.DeepEqual(pattern["source"], []any{map[string]any{"prefix": reconcile.PartnerSourcePrefix}}) {
		problems = append(problems, fmt.Sprintf("%s: source %v, want prefix %s", logStreamRule, pattern["source"], reconcile.PartnerSourcePrefix))
	}
	detail, _ := pattern["detail"].(map[string]any)
	var got []string
	list, _ := detail["eventType"].([]any)
	for _, v := range list {
		got = append(got, fmt.Sprint(v))
	}
	sort.Strings(got)
	want := append(revocation.KnownEventTypes(), reconcile.HookDeliveryEventType)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		problems = append(problems, fmt.Sprintf("%s: detail.eventType %v, want every known event type and %s: %v", logStreamRule, got, reconcile.HookDeliveryEventType, want))
	}
	targets, _ := rule.Properties["Targets"].([]any)
	if len(targets) != 1 || !reflect.DeepEqual(targets[0].(map[string]any)["Arn"], map[string]any{"Ref": reconcileFn + ".Alias"}) {
		problems = append(problems, fmt.Sprintf("%s: Targets %v, want the %s alias only", logStreamRule, targets, reconcileFn))
	}
	var permitted bool
	for _, id := range sortedKeys(p.tpl.Resources) {
		r := p.tpl.Resources[id]
		if r.Type != "AWS::Lambda::Permission" || !reflect.DeepEqual(r.Properties["SourceArn"], map[string]any{"Fn::GetAtt": []any{logStreamRule, "Arn"}}) {
			continue
		}
		permitted = r.Condition == rule.Condition && r.Properties["Principal"] == "events.amazonaws.com" &&
			reflect.DeepEqual(r.Properties["FunctionName"], map[string]any{"Ref": reconcileFn + ".Alias"})
	}
	if !permitted {
		problems = append(problems, logStreamRule+": no Lambda permission for events.amazonaws.com from this rule, under the same Condition")
	}
	return problems
}

func checkHookFailureAlarm(p project) (problems []string) {
	for _, id := range sortedKeys(p.tpl.Resources) {
		r := p.tpl.Resources[id]
		if r.Type != "AWS::CloudWatch::Alarm" || r.Properties["Namespace"] != reconcile.MetricsNamespace ||
			r.Properties["MetricName"] != reconcile.MetricHookDeliveryFailures {
			continue
		}
		want := []any{map[string]any{"Name": "Function", "Value": "reconcile"}}
		if reflect.DeepEqual(r.Properties["Dimensions"], want) && r.Properties["Threshold"] == 0 {
			return nil
		}
	}
	return []string{fmt.Sprintf("no alarm on %s %s (Function=reconcile) above 0: failed hook deliveries would go unnoticed",
		reconcile.MetricsNamespace, reconcile.MetricHookDeliveryFailures)}
}
