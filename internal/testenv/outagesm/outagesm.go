// Package outagesm is a Secrets Manager stand-in for unit tests of what a
// secrets.Cache user does when Secrets Manager goes down: it holds one
// AWSCURRENT value and, once Down is set, refuses every call, or once Hang
// is set, answers none. (The AWS
// behaviour itself is tested against moto_server.)
package outagesm

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

// ErrDown is what every call returns while the stand-in is down.
var ErrDown = errors.New("dial tcp: connection refused")

// SM serves Value as AWSCURRENT; AWSPREVIOUS does not exist.
type SM struct {
	Value string
	// Down makes every call fail with ErrDown.
	Down atomic.Bool
	// Hang makes every call block until its context ends, as an
	// unreachable endpoint does until the SDK's timeout.
	Hang atomic.Bool

	mu    sync.Mutex
	calls int
}

// GetSecretValue implements secrets.API.
func (s *SM) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	s.mu.Lock()
	s.calls++
	s.mu.Unlock()
	switch {
	case s.Down.Load():
		return nil, ErrDown
	case s.Hang.Load():
		<-ctx.Done()
		return nil, ctx.Err()
	case aws.ToString(in.VersionStage) == "AWSPREVIOUS":
		return nil, &types.ResourceNotFoundException{Message: aws.String("no AWSPREVIOUS version")}
	}
	return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(s.Value)}, nil
}

// Calls returns how many calls were made, down or not.
func (s *SM) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}
