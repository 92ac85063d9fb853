// Command reconcile is the Lambda function that catches what Okta's event
// hook missed: on a schedule it polls the System Log from its stored
// cursor and queues the revocations of events nobody queued yet, reports
// failed hook deliveries, and it also takes Okta's System Log stream from
// an EventBridge partner event bus. See internal/handlers/reconcile.
//
// Environment: OKTA_ORG_URL, OKTA_API_SECRET_ARN, SECRET_CACHE_TTL,
// REVOCATION_QUEUE_URL, DEDUPE_TABLE_NAME, DEDUPE_TTL, REVOKE_ON_EVENTS,
// RECONCILE_LOOKBACK, RECONCILE_MAX_PAGES, RECONCILE_PAGE_SIZE, LOG_LEVEL.
package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/okta-token-revoker/okta-token-revoker/internal/dedupe"
	"github.com/okta-token-revoker/okta-token-revoker/internal/handlers/reconcile"
	"github.com/okta-token-revoker/okta-token-revoker/internal/logging"
	"github.com/okta-token-revoker/okta-token-revoker/internal/okta"
	"github.com/okta-token-revoker/okta-token-revoker/internal/queue"
	"github.com/okta-token-revoker/okta-token-revoker/internal/setup"
)

// Okta client tuning for the System Log: its queries may run up to 30 s on
// Okta's side, longer than the client's default attempt timeout.
const (
	oktaAttemptTimeout = 35 * time.Second
	oktaMaxAttempts    = 3
)

// oktaScopes is all the reconciler needs of an OAuth service app: it only
// reads the System Log. (An SSWS token has its admin's privileges; a
// read-only admin suffices.)
var oktaScopes = []string{"okta.logs.read"}

func main() {
	logger := logging.FromEnv()
	settings, err := reconcile.LoadSettings(os.Getenv)
	if err != nil {
		setup.Fail(logger, "reconcile", "read configuration", err)
	}
	// Built once per execution environment; nothing here calls the network:
	// the Okta secret is read on the first System Log call and cached.
	awsCfg, err := setup.AWSConfig(context.Background())
	if err != nil {
		setup.Fail(logger, "reconcile", "load AWS config", err)
	}
	client, err := setup.OktaClient(context.Background(), awsCfg, logger, func(c *okta.Config) {
		c.Scopes = oktaScopes
		c.AttemptTimeout = oktaAttemptTimeout
		c.MaxAttempts = oktaMaxAttempts
	})
	if err != nil {
		setup.Fail(logger, "reconcile", "configure Okta client", err)
	}
	store := dedupe.New(dynamodb.NewFromConfig(awsCfg), settings.Table, dedupe.WithTTL(settings.DedupeTTL))
	handler, err := reconcile.New(reconcile.Config{
		Logs:       client,
		Store:      store,
		Publisher:  queue.NewPublisher(sqs.NewFromConfig(awsCfg), settings.QueueURL),
		EventTypes: settings.EventTypes,
		Lookback:   settings.Lookback,
		MaxPages:   settings.MaxPages,
		PageSize:   settings.PageSize,
		Logger:     logger,
		Metrics:    os.Stdout,
	})
	if err != nil {
		setup.Fail(logger, "reconcile", "build handler", err)
	}
	logger.Info("reconcile ready", slog.Any("eventTypes", settings.EventTypes), slog.Duration("lookback", settings.Lookback),
		slog.Int("maxPages", settings.MaxPages), slog.Int("pageSize", settings.PageSize), slog.String("table", settings.Table))
	lambda.Start(handler.Handle)
}
