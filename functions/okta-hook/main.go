// Command okta-hook is the Lambda function behind Okta's event hook
// (GET and POST /hooks/okta): it answers the verification challenge,
// authenticates Okta's calls with the shared-secret header, and queues a
// revocation request for each relevant event. It never calls Okta. See
// internal/handlers/oktahook.
//
// Environment: HOOK_SECRET_ARN, HOOK_AUTH_HEADER, REVOCATION_QUEUE_URL,
// REVOKE_ON_EVENTS, HOOK_MAX_BODY_BYTES, HOOK_ENQUEUE_TIMEOUT,
// SECRET_CACHE_TTL, DEDUPE_TABLE_NAME, DEDUPE_TTL, LOG_LEVEL.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/okta-token-revoker/okta-token-revoker/internal/dedupe"
	"github.com/okta-token-revoker/okta-token-revoker/internal/handlers/oktahook"
	"github.com/okta-token-revoker/okta-token-revoker/internal/logging"
	"github.com/okta-token-revoker/okta-token-revoker/internal/queue"
	"github.com/okta-token-revoker/okta-token-revoker/internal/secrets"
	"github.com/okta-token-revoker/okta-token-revoker/internal/setup"
)

func main() {
	logger := logging.FromEnv()
	cfg, err := oktahook.LoadConfig(os.Getenv)
	if err != nil {
		setup.Fail(logger, "okta-hook", "read configuration", err)
	}
	// Built once per execution environment; nothing here calls the network:
	// the hook secret is read on the first request and cached.
	awsCfg, err := setup.AWSConfig(context.Background())
	if err != nil {
		setup.Fail(logger, "okta-hook", "load AWS config", err)
	}
	hookSecret := secrets.NewCache(secretsmanager.NewFromConfig(awsCfg), cfg.SecretARN, cfg.SecretCacheTTL, secrets.WithLogger(logger))
	publisher := queue.NewPublisher(sqs.NewFromConfig(awsCfg), cfg.QueueURL)
	opts := []oktahook.Option{oktahook.WithMetrics(os.Stdout)}
	if cfg.DedupeTable != "" {
		store := dedupe.New(dynamodb.NewFromConfig(awsCfg), cfg.DedupeTable, dedupe.WithTTL(cfg.DedupeTTL))
		opts = append(opts, oktahook.WithDedupe(store))
	}
	handler, err := oktahook.New(cfg, hookSecret, publisher, logger, opts...)
	if err != nil {
		setup.Fail(logger, "okta-hook", "build handler", err)
	}
	logger.Info("okta-hook ready", slog.Any("eventTypes", cfg.EventTypes), slog.String("authHeader", cfg.AuthHeader),
		slog.String("dedupeTable", cfg.DedupeTable))
	lambda.Start(handler.Handle)
}
