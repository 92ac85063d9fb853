// Command list-tokens is the Lambda function behind the read-only routes
// (GET /users/{userId}/clients, GET .../tokens[/{tokenId}],
// GET /apps/{appId}/tokens[/{tokenId}]): it lists the OAuth clients and
// refresh tokens Okta holds, unchanged. See internal/handlers/listtokens.
//
// Environment: OKTA_ORG_URL, OKTA_API_SECRET_ARN, SECRET_CACHE_TTL,
// LOG_LEVEL.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/okta-token-revoker/okta-token-revoker/internal/handlers/listtokens"
	"github.com/okta-token-revoker/okta-token-revoker/internal/logging"
	"github.com/okta-token-revoker/okta-token-revoker/internal/setup"
)

func main() {
	logger := logging.FromEnv()
	// Built once per execution environment; nothing here calls the network:
	// the Okta secret is read on the first request and cached.
	ctx := context.Background()
	awsCfg, err := setup.AWSConfig(ctx)
	if err != nil {
		fail(logger, "load AWS config", err)
	}
	client, err := setup.OktaClient(ctx, awsCfg, logger)
	if err != nil {
		fail(logger, "configure Okta client", err)
	}
	router := listtokens.NewRouter(client, logger)
	lambda.Start(router.Serve)
}

// fail logs a configuration error and exits, so Lambda reports an init
// error instead of serving requests that cannot succeed.
func fail(logger *slog.Logger, what string, err error) {
	logger.Error("list-tokens cannot start", slog.String("step", what), slog.String("error", err.Error()))
	os.Exit(1)
}
