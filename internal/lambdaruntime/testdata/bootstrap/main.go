// Command bootstrap is a tiny Lambda function for the lambdaruntime tests.
// The event selects what it does; TEST_INIT selects init behaviour.
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type event struct {
	Action string `json:"action"` // echo, error, panic, exit, sleep, env, big, log
	Text   string `json:"text"`
	Sleep  string `json:"sleep"`
	Names  []string
}

type answer struct {
	Text              string            `json:"text,omitempty"`
	RequestID         string            `json:"requestId,omitempty"`
	FunctionARN       string            `json:"functionArn,omitempty"`
	DeadlineInMs      int64             `json:"deadlineInMs,omitempty"`
	Env               map[string]string `json:"env,omitempty"`
	TraceID           string            `json:"traceId,omitempty"`
	PID               int               `json:"pid,omitempty"`
	Big               string            `json:"big,omitempty"`
	HasConcurrencyVar bool              `json:"hasConcurrencyVar,omitempty"`
}

func handle(ctx context.Context, ev event) (answer, error) {
	lc, _ := lambdacontext.FromContext(ctx)
	a := answer{RequestID: lc.AwsRequestID, FunctionARN: lc.InvokedFunctionArn, PID: os.Getpid()}
	switch ev.Action {
	case "echo":
		a.Text = ev.Text
	case "log":
		fmt.Println("stdout line:", ev.Text)
		fmt.Fprint(os.Stderr, "stderr partial line without newline")
		a.Text = ev.Text
	case "error":
		return a, errors.New(ev.Text)
	case "panic":
		panic(ev.Text)
	case "exit":
		os.Exit(7)
	case "sleep":
		d, err := time.ParseDuration(ev.Sleep)
		if err != nil {
			return a, err
		}
		time.Sleep(d) // ignores ctx on purpose: the platform must kill it
	case "deadline":
		dl, ok := ctx.Deadline()
		if !ok {
			return a, errors.New("no deadline")
		}
		a.DeadlineInMs = dl.UnixMilli()
	case "env":
		a.Env = map[string]string{}
		for _, kv := range os.Environ() {
			k, v, _ := strings.Cut(kv, "=")
			a.Env[k] = v
		}
		a.TraceID = os.Getenv("_X_AMZN_TRACE_ID")
	case "big":
		a.Big = strings.Repeat("x", 7*1024*1024)
	default:
		return a, fmt.Errorf("unknown action %q", ev.Action)
	}
	return a, nil
}

func main() {
	switch os.Getenv("TEST_INIT") {
	case "crash":
		fmt.Fprintln(os.Stderr, "init failed on purpose")
		os.Exit(3)
	case "hang":
		time.Sleep(time.Hour)
	case "initerror":
		url := "http://" + os.Getenv("AWS_LAMBDA_RUNTIME_API") + "/2018-06-01/runtime/init/error"
		resp, err := http.Post(url, "application/json", bytes.NewReader([]byte(`{"errorMessage":"missing config","errorType":"InitConfigError"}`)))
		if err == nil {
			resp.Body.Close()
		}
		time.Sleep(time.Hour) // the platform kills the environment
	}
	lambda.Start(handle)
}
