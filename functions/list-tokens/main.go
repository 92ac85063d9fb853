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

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/okta-token-revoker/okta-token-revoker/internal/handlers/listtokens"
	"github.com/okta-token-revoker/okta-token-revoker/internal/logging"
	"github.com/okta-token-revoker/okta-token-revoker/internal/okta"
	"github.com/okta-token-revoker/okta-token-revoker/internal/setup"
)

func main() {
	logger := logging.FromEnv()
	// Built once per execution environment; nothing here calls the network:
	// the Okta secret is read on the first request and cached.
	ctx := context.Background()
	awsCfg, err := setup.AWSConfig(ctx)
	if err != nil {
		setup.Fail(logger, "list-tokens", "load AWS config", err)
	}
	// Read-only routes: an OAuth service app's token carries only the
	// read scopes, so this function could not revoke even if it tried.
	client, err := setup.OktaClient(ctx, awsCfg, logger, func(c *okta.Config) { c.Scopes = okta.ReadScopes })
	if err != nil {
		setup.Fail(logger, "list-tokens", "configure Okta client", err)
	}
	router := listtokens.NewRouter(client, logger)
	lambda.Start(router.Serve)
}
