package motoserver

import (
	"context"
	"errors"
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
