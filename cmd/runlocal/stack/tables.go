package stack

import (
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// createTables creates every AWS::DynamoDB::Table of the template in moto,
// named after its logical id, with the template's key schema and TTL
// attribute, so !Ref <table> in a function's environment resolves to it.
func (s *Stack) createTables(ctx context.Context, client *dynamodb.Client) error {
	for _, id := range sortedResourceIDs(s.Template.Resources) {
		r := s.Template.Resources[id]
		if r.Type != "AWS::DynamoDB::Table" {
			continue
		}
		in := &dynamodb.CreateTableInput{TableName: aws.String(id), BillingMode: dbtypes.BillingModePayPerRequest}
		attrs, _ := r.Properties["AttributeDefinitions"].([]any)
		for _, a := range attrs {
			m, _ := a.(map[string]any)
			name, _ := m["AttributeName"].(string)
			typ, _ := m["AttributeType"].(string)
			in.AttributeDefinitions = append(in.AttributeDefinitions, dbtypes.AttributeDefinition{AttributeName: aws.String(name), AttributeType: dbtypes.ScalarAttributeType(typ)})
		}
		keys, _ := r.Properties["KeySchema"].([]any)
		for _, k := range keys {
			m, _ := k.(map[string]any)
			name, _ := m["AttributeName"].(string)
			typ, _ := m["KeyType"].(string)
			in.KeySchema = append(in.KeySchema, dbtypes.KeySchemaElement{AttributeName: aws.String(name), KeyType: dbtypes.KeyType(typ)})
		}
		if len(in.KeySchema) == 0 {
			return fmt.Errorf("table %s: no KeySchema the local runner can read", id)
		}
		if _, err := client.CreateTable(ctx, in); err != nil {
			return fmt.Errorf("create table %s: %w", id, err)
		}
		if ttl, ok := r.Properties["TimeToLiveSpecification"].(map[string]any); ok && ttl["Enabled"] == true {
			name, _ := ttl["AttributeName"].(string)
			if _, err := client.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
				TableName:               aws.String(id),
				TimeToLiveSpecification: &dbtypes.TimeToLiveSpecification{AttributeName: aws.String(name), Enabled: aws.Bool(true)},
			}); err != nil {
				return fmt.Errorf("table %s: enable TTL: %w", id, err)
			}
		}
		s.Tables[id] = id
	}
	return nil
}

func sortedResourceIDs[V any](m map[string]V) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
