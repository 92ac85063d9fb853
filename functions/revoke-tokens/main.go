// Command revoke-tokens is the Lambda function that revokes Okta refresh
// tokens. One handler serves two triggers: SQS batches from the revocation
// queue, and the IAM-authorized HTTP API routes (DELETE .../tokens,
// POST /revocations). See internal/handlers/revoketokens.
//
// Environment: OKTA_ORG_URL, OKTA_API_SECRET_ARN, SECRET_CACHE_TTL,
// REVOCATION_QUEUE_URL, DRY_RUN, REVOKE_CONCURRENCY, REVOKE_OKTA_SESSIONS,
// LOG_LEVEL.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/okta-token-revoker/okta-token-revoker/internal/envconf"
	"github.com/okta-token-revoker/okta-token-revoker/internal/handlers/revoketokens"
	"github.com/okta-token-revoker/okta-token-revoker/internal/logging"
	"github.com/okta-token-revoker/okta-token-revoker/internal/queue"
	"github.com/okta-token-revoker/okta-token-revoker/internal/revocation"
	"github.com/okta-token-revoker/okta-token-revoker/internal/setup"
)

// maxConcurrency bounds REVOKE_CONCURRENCY: Okta allows 35 to 75 requests
// in flight per org, shared with everything else that calls it.
const maxConcurrency = 20

func main() {
	logger := logging.FromEnv()
	queueURL, err := setup.RequireEnv("REVOCATION_QUEUE_URL")
	if err != nil {
		setup.Fail(logger, "revoke-tokens", "read configuration", err)
	}
	dryRun, err := setup.BoolEnv("DRY_RUN", false)
	if err != nil {
		setup.Fail(logger, "revoke-tokens", "read configuration", err)
	}
	revokeSessions, err := setup.BoolEnv("REVOKE_OKTA_SESSIONS", false)
	if err != nil {
		setup.Fail(logger, "revoke-tokens", "read configuration", err)
	}
	concurrency, err := envconf.Int(os.Getenv, "REVOKE_CONCURRENCY", revoketokens.DefaultConcurrency, 1, maxConcurrency)
	if err != nil {
		setup.Fail(logger, "revoke-tokens", "read configuration", err)
	}

	// Built once per execution environment; nothing here calls the network:
	// the Okta secret is read on the first revocation and cached, and the
	// one Okta client (with its rate-limit pacer) serves every invocation.
	ctx := context.Background()
	awsCfg, err := setup.AWSConfig(ctx)
	if err != nil {
		setup.Fail(logger, "revoke-tokens", "load AWS config", err)
	}
	client, err := setup.OktaClient(ctx, awsCfg, logger)
	if err != nil {
		setup.Fail(logger, "revoke-tokens", "configure Okta client", err)
	}
	executor, err := revocation.NewExecutor(revocation.ExecutorConfig{
		Okta: client, Logger: logger, DryRun: dryRun, RevokeSessions: revokeSessions,
	})
	if err != nil {
		setup.Fail(logger, "revoke-tokens", "build executor", err)
	}
	sqsClient := sqs.NewFromConfig(awsCfg)
	handler, err := revoketokens.New(revoketokens.Config{
		Executor:    executor,
		Publisher:   queue.NewPublisher(sqsClient, queueURL),
		SQS:         sqsClient,
		QueueURL:    queueURL,
		Logger:      logger,
		Metrics:     os.Stdout,
		Concurrency: concurrency,
		DryRun:      dryRun,
	})
	if err != nil {
		setup.Fail(logger, "revoke-tokens", "build handler", err)
	}
	logger.Info("revoke-tokens ready", slog.Bool("dryRun", dryRun), slog.Bool("revokeOktaSessions", revokeSessions),
		slog.Int("concurrency", concurrency))
	lambda.Start(handler)
}
