// Package moto runs a local moto_server (https://github.com/getmoto/moto) for
// tests that talk to SQS and Secrets Manager through the real aws-sdk-go-v2
// clients.
//
// moto_server must be on PATH. When it is missing the test fails, it is never
// skipped: a silently skipped integration suite hides regressions.
//
// Starting moto costs about a second, so a package with many tests can share
// one server per test binary from TestMain:
//
//	var motoSrv *moto.Server
//
//	func TestMain(m *testing.M) { moto.Main(m, &motoSrv) }
//
// Tests on a shared server should use unique queue and secret names.
package moto

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/okta-token-revoker/okta-token-revoker/internal/motoserver"
)

// Region, AccessKeyID and SecretAccessKey are what AWSConfig and Env use.
// moto accepts any credentials; these are deliberately fake.
const (
	Region          = motoserver.Region
	AccessKeyID     = motoserver.AccessKeyID
	SecretAccessKey = motoserver.SecretAccessKey
)

// Executable is the program Start runs.
const Executable = motoserver.Executable

// readyTimeout bounds how long Start waits for moto to answer. It is
// generous because the test machine may be busy; a failed start is reported
// as soon as the process exits.
const readyTimeout = 60 * time.Second

// Server is a running moto_server on a loopback port, started by
// internal/motoserver (which also kills it if the test binary dies without
// Cleanup).
type Server struct {
	srv *motoserver.Server
}

// Start starts moto_server on a free loopback port, waits until it answers,
// and stops it (killing its whole process group) when tb's test ends. It
// fails tb when moto_server is not on PATH or does not come up.
func Start(tb testing.TB) *Server {
	tb.Helper()
	s, err := start()
	if err != nil {
		tb.Fatalf("moto: %v", err)
	}
	tb.Cleanup(s.Stop)
	return s
}

// StartShared starts a moto_server for a whole test binary (call it from
// TestMain). The caller must call stop when the tests have run.
func StartShared() (s *Server, stop func(), err error) {
	s, err = start()
	if err != nil {
		return nil, nil, fmt.Errorf("moto: %w", err)
	}
	return s, s.Stop, nil
}

// Main is a TestMain for a package whose tests share one server: it starts
// the server, stores it in *srv, runs the tests, stops the server and exits
// with the tests' status. It exits with status 1 when the server does not
// start.
func Main(m *testing.M, srv **Server) {
	s, stop, err := StartShared()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*srv = s
	code := m.Run()
	stop()
	os.Exit(code)
}

func start() (*Server, error) {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	srv, err := motoserver.Start(ctx)
	if err != nil {
		return nil, err
	}
	return &Server{srv: srv}, nil
}

// Stop kills moto_server and its process group and waits for it to exit.
// It is safe to call more than once.
func (s *Server) Stop() { _ = s.srv.Close() }

// URL is the server's base URL, e.g. http://127.0.0.1:41234.
func (s *Server) URL() string { return s.srv.URL() }

// StartupTime is how long the server took from exec to answering.
func (s *Server) StartupTime() time.Duration { return s.srv.StartupTime() }

// AWSConfig is an SDK configuration for this server: static fake
// credentials, Region, and BaseEndpoint = URL. It reads no environment or
// shared config files, so the developer's AWS setup cannot leak into tests.
func (s *Server) AWSConfig() aws.Config { return s.srv.AWSConfig() }

// Env is the environment for a child process (a function binary or the
// local runner) that should talk to this server.
func (s *Server) Env() []string { return env(s.URL()) }

func env(url string) []string {
	return []string{
		"AWS_ENDPOINT_URL=" + url,
		"AWS_REGION=" + Region,
		"AWS_DEFAULT_REGION=" + Region,
		"AWS_ACCESS_KEY_ID=" + AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + SecretAccessKey,
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

// SQS is an SQS client for this server.
func (s *Server) SQS() *sqs.Client { return sqs.NewFromConfig(s.AWSConfig()) }

// SecretsManager is a Secrets Manager client for this server.
func (s *Server) SecretsManager() *secretsmanager.Client {
	return secretsmanager.NewFromConfig(s.AWSConfig())
}

// Reset drops all state (queues, secrets, ...) in the server.
func (s *Server) Reset(tb testing.TB) {
	tb.Helper()
	resp, err := http.Post(s.URL()+"/moto-api/reset", "application/json", nil)
	if err != nil {
		tb.Fatalf("moto: reset: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("moto: reset: status %s", resp.Status)
	}
}

// CreateQueueWithDLQ creates a dead-letter queue "<name>-dlq" and a standard
// queue name whose redrive policy moves a message there after maxReceive
// receives.
func (s *Server) CreateQueueWithDLQ(tb testing.TB, name string, visibility time.Duration, maxReceive int) (queueURL, dlqURL string) {
	tb.Helper()
	ctx := context.Background()
	client := s.SQS()
	dlq, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name + "-dlq")})
	if err != nil {
		tb.Fatalf("moto: create queue %s-dlq: %v", name, err)
	}
	attrs, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       dlq.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		tb.Fatalf("moto: get arn of %s-dlq: %v", name, err)
	}
	redrive := fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":"%d"}`,
		attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)], maxReceive)
	q, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{
		QueueName: aws.String(name),
		Attributes: map[string]string{
			string(sqstypes.QueueAttributeNameVisibilityTimeout): strconv.Itoa(int(visibility / time.Second)),
			string(sqstypes.QueueAttributeNameRedrivePolicy):     redrive,
		},
	})
	if err != nil {
		tb.Fatalf("moto: create queue %s: %v", name, err)
	}
	return aws.ToString(q.QueueUrl), aws.ToString(dlq.QueueUrl)
}

// CreateSecret creates a secret with a SecretString and returns its ARN.
func (s *Server) CreateSecret(tb testing.TB, name, value string) (arn string) {
	tb.Helper()
	out, err := s.SecretsManager().CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{
		Name:         aws.String(name),
		SecretString: aws.String(value),
	})
	if err != nil {
		tb.Fatalf("moto: create secret %s: %v", name, err)
	}
	return aws.ToString(out.ARN)
}

// PutSecretValue rotates the secret: value becomes AWSCURRENT and the
// previous current version becomes AWSPREVIOUS.
func (s *Server) PutSecretValue(tb testing.TB, arn, value string) {
	tb.Helper()
	_, err := s.SecretsManager().PutSecretValue(context.Background(), &secretsmanager.PutSecretValueInput{
		SecretId:     aws.String(arn),
		SecretString: aws.String(value),
	})
	if err != nil {
		tb.Fatalf("moto: put secret value %s: %v", arn, err)
	}
}
