// Package benchkit holds what the benchmarks share: building bootstraps
// exactly like the Makefile (and so like `sam build`) does, and order
// statistics over samples.
package benchkit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// RepoRoot returns the directory of the module's go.mod, searched upwards
// from the working directory (a package directory under go test).
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find repository root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find repository root: no go.mod above the working directory")
		}
		dir = parent
	}
}

// BuildFunction runs `make build-<logicalID>` in repo for the host
// architecture, as `sam build` does for the template's functions, and
// returns the path of dir/<logicalID>/bootstrap.
func BuildFunction(ctx context.Context, repo, dir, logicalID string) (string, error) {
	return runMake(ctx, repo, dir, logicalID, "build-"+logicalID)
}

// BuildPackage builds the main package pkg (e.g. "./bench/minimal") with
// the Makefile's own GO_BUILD command line, so it gets exactly the flags the
// functions get, and returns the path of dir/<name>/bootstrap. The rule is
// passed with --eval: the Makefile stays the one place the flags live.
func BuildPackage(ctx context.Context, repo, dir, name, pkg string) (string, error) {
	if strings.ContainsAny(pkg, " \t\n$;#\\") || strings.ContainsAny(name, " \t\n$;#:/\\") {
		return "", fmt.Errorf("build %s: unsafe package path or name", name)
	}
	target := "bench-build-" + name
	rule := target + ": ; $(GO_BUILD) -o $(ARTIFACTS_DIR)/bootstrap " + pkg
	return runMake(ctx, repo, dir, name, "--eval="+rule, target)
}

func runMake(ctx context.Context, repo, dir, name string, args ...string) (string, error) {
	out := filepath.Join(dir, name)
	args = append([]string{"--no-print-directory"}, args...)
	args = append(args, "GOARCH="+runtime.GOARCH, "ARTIFACTS_DIR="+out)
	cmd := exec.CommandContext(ctx, "make", args...)
	cmd.Dir = repo
	// A fresh make: an outer `make bench` must not pass its flags or
	// variables (GOARCH=arm64 among them) down to this one.
	cmd.Env = cleanEnv(os.Environ())
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build %s: make %s: %w\n%s", name, strings.Join(args, " "), err, strings.TrimSpace(log.String()))
	}
	return filepath.Join(out, "bootstrap"), nil
}

func cleanEnv(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "GOARCH", "GOOS", "CGO_ENABLED", "ARTIFACTS_DIR", "BUILD_DIR", "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEFILES", "GOFLAGS":
			continue
		}
		out = append(out, kv)
	}
	return out
}
