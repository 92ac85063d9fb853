// Package dedupetest creates dedupe tables for tests, with the key schema
// and TTL attribute template.yaml gives the real one.
package dedupetest

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/okta-token-revoker/okta-token-revoker/internal/dedupe"
)

// CreateTable creates table (on-demand, key dedupe.KeyAttribute, TTL on
// dedupe.TTLAttribute) with cfg and returns a client for it.
func CreateTable(tb testing.TB, cfg aws.Config, table string) *dynamodb.Client {
	tb.Helper()
	client := dynamodb.NewFromConfig(cfg)
	if err := Create(context.Background(), client, table); err != nil {
		tb.Fatalf("dedupetest: %v", err)
	}
	return client
}

// Create creates table like CreateTable. moto_server makes it active at
// once; against real DynamoDB wait for it before use.
func Create(ctx context.Context, client *dynamodb.Client, table string) error {
	_, err := client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String(dedupe.KeyAttribute), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String(dedupe.KeyAttribute), KeyType: types.KeyTypeHash}},
	})
	if err != nil {
		return err
	}
	_, err = client.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName:               aws.String(table),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String(dedupe.TTLAttribute), Enabled: aws.Bool(true)},
	})
	return err
}
