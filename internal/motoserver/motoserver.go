// Package motoserver runs moto_server (https://github.com/getmoto/moto), a
// local emulation of AWS services, on a loopback port, for programs such as
// the local runner. It has no testing dependency; tests use
// internal/testenv/moto.
package motoserver

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
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Region and the static credentials the server is used with. moto accepts
// any credentials; these are deliberately fake.
const (
	Region          = "us-east-1"
	AccessKeyID     = "test"
	SecretAccessKey = "test"
	// Executable is the program Start runs (looked up on PATH).
	Executable = "moto_server"
)

// ErrNotInstalled is returned when moto_server is not on PATH.
var ErrNotInstalled = errors.New("moto_server not found on PATH (install it with `pip install 'moto[server]'`)")

// Server is a running moto_server.
type Server struct {
	url     string
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error // set before exited is closed
	output  *tailBuffer
	startup time.Duration
	once    sync.Once
	// lifeline is the write end of the watchdog's stdin pipe (see
	// command); closing it makes the watchdog kill moto_server.
	lifeline io.Closer
}

// Start runs moto_server on a free loopback port and waits until it
// answers, ctx ends, or the process exits. The caller must Close it. On
// Unix moto_server runs under a watchdog that kills it when this process
// exits by any means, so a crashed program leaves no orphan server.
func Start(ctx context.Context) (*Server, error) {
	path, err := exec.LookPath(Executable)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotInstalled, err)
	}
	// Another process may take the port between our probe and moto's bind;
	// a retry makes that race harmless.
	var lastErr error
	for range 3 {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		s, err := launch(ctx, path, port)
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

func launch(ctx context.Context, path string, port int) (*Server, error) {
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
	s.cmd.Stdout, s.cmd.Stderr = s.output, s.output
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
	if err := s.waitReady(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	s.startup = time.Since(begin)
	return s, nil
}

// waitReady polls GET /moto-api/ until it answers 200.
func (s *Server) waitReady(ctx context.Context) error {
	client := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/moto-api/", nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.exited:
			return fmt.Errorf("%w (%v); output:\n%s", errExited, s.waitErr, s.output.String())
		case <-ctx.Done():
			return fmt.Errorf("moto_server at %s not ready: %w; output:\n%s", s.url, ctx.Err(), s.output.String())
		case <-tick.C:
		}
	}
}

// Close kills moto_server and its process group and waits for it to exit.
// It is safe to call more than once.
func (s *Server) Close() error {
	s.once.Do(func() {
		killGroup(s.cmd)
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
		}
		s.lifeline.Close()
	})
	return nil
}

// URL is the server's base URL, e.g. http://127.0.0.1:41234.
func (s *Server) URL() string { return s.url }

// StartupTime is how long the server took from exec to answering.
func (s *Server) StartupTime() time.Duration { return s.startup }

// Output returns the last lines moto printed, for error reports.
func (s *Server) Output() string { return s.output.String() }

// AWSConfig is an SDK configuration for this server: static fake
// credentials, Region and BaseEndpoint. It reads no environment or shared
// config files, so the developer's AWS setup cannot leak in.
func (s *Server) AWSConfig() aws.Config {
	return aws.Config{
		Region:       Region,
		Credentials:  aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, "")),
		BaseEndpoint: aws.String(s.url),
	}
}

// Env is the environment (besides credentials and region) a child process
// needs to reach this server through the SDK's default configuration.
func (s *Server) Env() map[string]string {
	return map[string]string{
		"AWS_ENDPOINT_URL":          s.url,
		"AWS_EC2_METADATA_DISABLED": "true",
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

// tailBuffer keeps the last max bytes written: moto logs every request.
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
