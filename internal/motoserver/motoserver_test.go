package motoserver

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

func TestStartServeClose(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Start(ctx)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	client := sqs.NewFromConfig(s.AWSConfig())
	out, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("motoserver-test")})
	if err != nil {
		t.Fatalf("CreateQueue against %s: %v", s.URL(), err)
	}
	if aws.ToString(out.QueueUrl) == "" {
		t.Error("no queue URL")
	}
	if s.Env()["AWS_ENDPOINT_URL"] != s.URL() {
		t.Errorf("Env = %v", s.Env())
	}
	pid := s.cmd.Process.Pid
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("moto_server (pid %d) still exists after Close: %v", pid, err)
	}
	select {
	case <-s.exited:
	default:
		t.Fatal("process still running after Close")
	}
	httpClient := &http.Client{Timeout: time.Second}
	if resp, err := httpClient.Get(s.URL() + "/moto-api/"); err == nil {
		resp.Body.Close()
		t.Fatal("server still answering after Close")
	}
}

func TestStartHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if s, err := Start(ctx); err == nil {
		_ = s.Close()
		t.Fatal("Start with a cancelled context succeeded")
	}
}

func TestStartWithoutMoto(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := Start(context.Background())
	if !errors.Is(err, ErrNotInstalled) {
		t.Errorf("err = %v, want ErrNotInstalled", err)
	}
}

func TestStartReportsEarlyExit(t *testing.T) {
	// A moto_server that dies at once must be reported with its output,
	// without waiting for ctx to end.
	dir := t.TempDir()
	script := "#!/bin/sh\necho boom: cannot start >&2\nexit 3\n"
	if err := os.WriteFile(filepath.Join(dir, Executable), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	_, err := Start(context.Background())
	if !errors.Is(err, errExited) {
		t.Fatalf("Start = %v, want errExited", err)
	}
	if !strings.Contains(err.Error(), "boom: cannot start") {
		t.Fatalf("error lacks the process output: %v", err)
	}
}

func TestTailBuffer(t *testing.T) {
	b := &tailBuffer{max: 8}
	for _, s := range []string{"abc", "defgh", "ijk"} {
		if _, err := b.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	if got := b.String(); got != "defghijk" {
		t.Fatalf("tail = %q, want %q", got, "defghijk")
	}
}
