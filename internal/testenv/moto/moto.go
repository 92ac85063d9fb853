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
//	func TestMain(m *testing.M) {
//		srv, stop, err := moto.StartShared()
//		if err != nil {
//			fmt.Fprintln(os.Stderr, err)
//			os.Exit(1)
//		}
//		motoSrv = srv
//		code := m.Run()
//		stop()
//		os.Exit(code)
//	}
//
// Tests on a shared server should use unique queue and secret names.
package moto

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Region, AccessKeyID and SecretAccessKey are what AWSConfig and Env use.
// moto accepts any credentials; these are deliberately fake.
const (
	Region          = "us-east-1"
	AccessKeyID     = "test"
	SecretAccessKey = "test"
)

// Executable is the program Start runs.
const Executable = "moto_server"

// readyTimeout bounds how long Start waits for moto to answer. It is
// generous because the test machine may be busy; a failed start is reported
// as soon as the process exits.
const readyTimeout = 60 * time.Second

// Server is a running moto_server on a loopback port.
type Server struct {
	url     string
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the process has exited
	waitErr error         // set before exited is closed
	output  *tailBuffer
	started time.Duration // time from exec to the first 200 from /moto-api/
	stopped sync.Once
	// lifeline is the write end of the watchdog's stdin pipe (see
	// command); nil where there is no watchdog.
	lifeline io.Closer
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

func start() (*Server, error) {
	path, err := exec.LookPath(Executable)
	if err != nil {
		return nil, fmt.Errorf("%s not found on PATH (install it with `pip install 'moto[server]'`): %w", Executable, err)
	}
	// Another process may take the free port between Listen and moto's bind;
	// a couple of retries make that race harmless.
	var lastErr error
	for range 3 {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		s, err := launch(path, port)
		if err == nil {
			return s, nil
		}
		lastErr = err
		if !errors.Is(err, errExited) {
			break
		}
	}
	return nil, lastErr
}

var errExited = errors.New("moto_server exited before it was ready")

func launch(path string, port int) (*Server, error) {
	s := &Server{
		url:    "http://127.0.0.1:" + strconv.Itoa(port),
		exited: make(chan struct{}),
		output: &tailBuffer{max: 16 << 10},
	}
	cmd, lifeline, err := command(path, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	if err != nil {
		return nil, err
	}
	s.cmd, s.lifeline = cmd, lifeline
	s.cmd.Stdout = s.output
	s.cmd.Stderr = s.output
	begin := time.Now()
	err = s.cmd.Start()
	if closer, ok := s.cmd.Stdin.(io.Closer); ok {
		closer.Close() // the child has its copy
	}
	if err != nil {
		s.lifeline.Close()
		return nil, fmt.Errorf("start %s: %w", path, err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitReady(); err != nil {
		s.Stop()
		return nil, err
	}
	s.started = time.Since(begin)
	return s, nil
}

// waitReady polls GET /moto-api/ until it answers 200, the process exits, or
// readyTimeout passes.
func (s *Server) waitReady() error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.NewTimer(readyTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := client.Get(s.url + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.exited:
			return fmt.Errorf("%w (%v); output:\n%s", errExited, s.waitErr, s.output.String())
		case <-deadline.C:
			return fmt.Errorf("moto_server at %s not ready after %s; output:\n%s", s.url, readyTimeout, s.output.String())
		case <-tick.C:
		}
	}
}

// Stop kills moto_server and its process group and waits for it to exit.
// It is safe to call more than once.
func (s *Server) Stop() {
	s.stopped.Do(func() {
		killGroup(s.cmd)
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
		}
		if s.lifeline != nil {
			s.lifeline.Close()
		}
	})
}

// URL is the server's base URL, e.g. http://127.0.0.1:41234.
func (s *Server) URL() string { return s.url }

// StartupTime is how long the server took from exec to answering.
func (s *Server) StartupTime() time.Duration { return s.started }

// AWSConfig is an SDK configuration for this server: static fake
// credentials, Region, and BaseEndpoint = URL. It reads no environment or
// shared config files, so the developer's AWS setup cannot leak into tests.
func (s *Server) AWSConfig() aws.Config {
	return aws.Config{
		Region:       Region,
		Credentials:  aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, "")),
		BaseEndpoint: aws.String(s.url),
	}
}

// Env is the environment for a child process (a function binary or the
// local runner) that should talk to this server.
func (s *Server) Env() []string {
	return []string{
		"AWS_ENDPOINT_URL=" + s.url,
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
	resp, err := http.Post(s.url+"/moto-api/reset", "application/json", nil)
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

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// tailBuffer keeps the last max bytes written, for error messages (moto logs
// every request, so the whole output could grow large).
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf bytes.Buffer
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if over := b.buf.Len() - b.max; over > 0 {
		b.buf.Next(over)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.TrimSpace(b.buf.String())
}
