// Package lambdatest builds a function of this repository as Lambda runs it
// and runs it under a local Lambda Runtime API (internal/lambdaruntime)
// against moto_server, for the functions' bootstrap tests:
//
//	fn := lambdatest.Build(t, "OktaHookFunction")
//	srv := moto.Start(t)
//	env := lambdatest.Env(srv, map[string]string{"LOG_LEVEL": "debug"})
//	f, out := fn.Start(t, env, 10*time.Second)
//	res := lambdatest.Invoke(t, f, out, "okta-hook-suspend.json")
package lambdatest

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/okta-token-revoker/okta-token-revoker/internal/lambdaruntime"
	"github.com/okta-token-revoker/okta-token-revoker/internal/testenv/logtest"
	"github.com/okta-token-revoker/okta-token-revoker/internal/testenv/moto"
)

// Function is a function of template.yaml built for the host.
type Function struct {
	// Name is its logical ID in template.yaml, e.g. "OktaHookFunction".
	Name string
	// Bootstrap is the path of the built executable.
	Bootstrap string
}

// Build runs `make build-<logicalID>` for the host's architecture, as
// `sam build` and the local runner do, into a temporary directory of tb:
// the test runs the binary Lambda would.
func Build(tb testing.TB, logicalID string) Function {
	tb.Helper()
	dir := tb.TempDir()
	cmd := exec.Command("make", "--no-print-directory", "build-"+logicalID,
		"GOARCH="+runtime.GOARCH, "ARTIFACTS_DIR="+dir)
	cmd.Dir = repoRoot(tb)
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("make build-%s: %v\n%s", logicalID, err, out)
	}
	return Function{Name: logicalID, Bootstrap: filepath.Join(dir, "bootstrap")}
}

// Env returns vars plus what a function needs to reach srv through the
// SDK's default configuration. The region and the credentials are left
// out: the runtime sets them (see Start).
func Env(srv *moto.Server, vars map[string]string) map[string]string {
	env := make(map[string]string, len(vars)+2)
	for k, v := range vars {
		env[k] = v
	}
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY":
			continue // set by the runtime
		}
		env[k] = v
	}
	return env
}

// Start runs f in at most one execution environment with env, moto's region
// and credentials and the given timeout, and closes it when tb's test ends.
// out collects what the function and the runtime write.
func (f Function) Start(tb testing.TB, env map[string]string, timeout time.Duration) (fn *lambdaruntime.Function, out *Output) {
	tb.Helper()
	out = &Output{}
	fn, err := lambdaruntime.New(lambdaruntime.Config{
		FunctionName: f.Name, Bootstrap: f.Bootstrap, Env: env,
		Region: moto.Region, AccessKeyID: moto.AccessKeyID, SecretAccessKey: moto.SecretAccessKey,
		Timeout: timeout, Output: out, MaxEnvironments: 1,
		Logger: slog.New(slog.NewTextHandler(out, nil)),
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = fn.Close() })
	return fn, out
}

// Event returns the sample event name from the repository's events
// directory.
func Event(tb testing.TB, name string) []byte {
	tb.Helper()
	payload, err := os.ReadFile(filepath.Join(repoRoot(tb), "events", name))
	if err != nil {
		tb.Fatal(err)
	}
	return payload
}

// Invoke invokes fn with the sample event name and fails tb, showing out,
// if the invocation or the function fails.
func Invoke(tb testing.TB, fn *lambdaruntime.Function, out *Output, name string) lambdaruntime.Result {
	tb.Helper()
	res, err := fn.Invoke(context.Background(), Event(tb, name))
	if err != nil || res.Error != nil {
		tb.Fatalf("invoke %s: %v %v\n%s", name, err, res.Error, out)
	}
	return res
}

// repoRoot is the directory of go.mod above the working directory.
func repoRoot(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		} else if !errors.Is(err, os.ErrNotExist) {
			tb.Fatal(err)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("lambdatest: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Output collects a function's output from several goroutines.
type Output = logtest.Buffer
