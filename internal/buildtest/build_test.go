package buildtest

import (
	"context"
	"debug/buildinfo"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/okta-token-revoker/okta-token-revoker/internal/samtemplate"
)

const (
	repoRoot = "../.."
	// maxBootstrapBytes keeps binaries (and so cold starts and zip uploads) small;
	// an arm64 function with the SDK clients is about 9 MB with our flags.
	maxBootstrapBytes = 12 << 20
	buildTimeout      = 5 * time.Minute
)

// skipDirs are not copied, as SAM's CustomMakeWorkflow leaves out .git and
// .aws-sam; build outputs and node modules are irrelevant to a Go build.
var skipDirs = map[string]bool{".git": true, ".aws-sam": true, ".build": true, "node_modules": true}

var machines = map[string]elf.Machine{"arm64": elf.EM_AARCH64, "amd64": elf.EM_X86_64}

// TestSAMMakefileBuild emulates `sam build` for every function in
// template.yaml: once exactly as SAM runs it (ARTIFACTS_DIR in the
// environment, GOARCH left to the Makefile's arm64 default), once the way
// local runs and tests build for another architecture
// (`make build-<LogicalId> ARTIFACTS_DIR=... GOARCH=amd64`).
func TestSAMMakefileBuild(t *testing.T) {
	tpl, err := samtemplate.Load(filepath.Join(repoRoot, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	functions := tpl.FunctionNames()
	if len(functions) == 0 {
		t.Fatal("template.yaml has no functions")
	}
	src := t.TempDir()
	if err := copyTree(repoRoot, src); err != nil {
		t.Fatalf("copy the source tree: %v", err)
	}
	out := t.TempDir()
	for _, id := range functions {
		for _, arch := range []string{"arm64", "amd64"} {
			t.Run(id+"/"+arch, func(t *testing.T) {
				artifacts := filepath.Join(out, arch, id)
				var makeArgs, env []string
				if arch == "arm64" {
					// SAM: make --makefile <dir>/Makefile build-<id>, ARTIFACTS_DIR in the environment.
					makeArgs = []string{"make", "--makefile", filepath.Join(src, "Makefile"), "build-" + id}
					env = append(buildEnv(), "ARTIFACTS_DIR="+artifacts)
				} else {
					makeArgs = []string{"make", "build-" + id, "ARTIFACTS_DIR=" + artifacts, "GOARCH=" + arch}
					env = buildEnv()
				}
				if output, err := run(t, src, env, makeArgs); err != nil {
					t.Fatalf("%s: %v\n%s", strings.Join(makeArgs, " "), err, output)
				}
				bootstrap := filepath.Join(artifacts, "bootstrap")
				for _, problem := range checkBootstrap(bootstrap, arch) {
					t.Error(problem)
				}
				if arch == runtime.GOARCH && runtime.GOOS == "linux" {
					checkRuns(t, bootstrap)
				}
			})
		}
	}
}

// buildEnv is the test's environment without the Go target settings, so
// the Makefile alone decides them, and without an outer make's settings
// (the test may run under `make test`), as SAM starts make afresh.
func buildEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "GOARCH", "GOOS", "CGO_ENABLED", "ARTIFACTS_DIR", "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEFILES":
			continue
		}
		env = append(env, kv)
	}
	return env
}

// run runs args in dir under umask 022 (as on SAM's build hosts and CI
// runners, so the bootstrap's mode is predictable), in its own process group
// so a timeout stops make and the compilers it started.
func run(t *testing.T, dir string, env, args []string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(t.Context(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", append([]string{"-c", `umask 022 && exec "$@"`, "sh"}, args...)...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	return cmd.CombinedOutput()
}

// checkBootstrap returns what is wrong with a built bootstrap.
func checkBootstrap(path, arch string) (problems []string) {
	info, err := os.Stat(path)
	if err != nil {
		return []string{fmt.Sprintf("no bootstrap: %v", err)}
	}
	if perm := info.Mode().Perm(); perm != 0o755 || !info.Mode().IsRegular() {
		problems = append(problems, fmt.Sprintf("mode %v, want a regular file with 0755", info.Mode()))
	}
	if info.Size() > maxBootstrapBytes {
		problems = append(problems, fmt.Sprintf("size %d bytes, want at most %d", info.Size(), maxBootstrapBytes))
	}
	f, err := elf.Open(path)
	if err != nil {
		return append(problems, fmt.Sprintf("not an ELF file: %v", err))
	}
	defer f.Close()
	if f.Machine != machines[arch] || f.Class != elf.ELFCLASS64 {
		problems = append(problems, fmt.Sprintf("ELF machine %v class %v, want %v 64-bit", f.Machine, f.Class, machines[arch]))
	}
	if f.Type != elf.ET_EXEC {
		problems = append(problems, fmt.Sprintf("ELF type %v, want a static executable (ET_EXEC)", f.Type))
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			problems = append(problems, fmt.Sprintf("has %v: dynamically linked (CGO_ENABLED=0 missing?)", p.Type))
		}
	}
	// Go records no -ldflags under -trimpath; look for what -s -w strip.
	for _, name := range []string{".symtab", ".debug_info", ".zdebug_info"} {
		if f.Section(name) != nil {
			problems = append(problems, fmt.Sprintf("has section %s: -ldflags='-s -w' missing", name))
		}
	}

	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return append(problems, fmt.Sprintf("no Go build info: %v", err))
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	want := map[string]string{
		"GOOS": "linux", "GOARCH": arch, "CGO_ENABLED": "0",
		"-tags": "lambda.norpc", "-trimpath": "true",
	}
	for k, v := range want {
		if settings[k] != v {
			problems = append(problems, fmt.Sprintf("built with %s=%q, want %q", k, settings[k], v))
		}
	}
	if bi.Main.Path != "github.com/okta-token-revoker/okta-token-revoker" {
		problems = append(problems, fmt.Sprintf("main module %q", bi.Main.Path))
	}
	return problems
}

// checkRuns starts a host-architecture bootstrap outside Lambda: it must
// execute (no exec format error, no missing loader) and exit by itself,
// because the Lambda Runtime API it needs is not there.
func checkRuns(t *testing.T, path string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path)
	// A closed loopback port as the Runtime API, and nothing that reaches AWS.
	cmd.Env = []string{
		"AWS_LAMBDA_RUNTIME_API=127.0.0.1:1",
		"AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
		"AWS_ENDPOINT_URL=http://127.0.0.1:1",
		"AWS_EC2_METADATA_DISABLED=true",
	}
	output, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("bootstrap did not exit on its own within 30s:\n%s", output)
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("bootstrap does not run: %v", err)
	}
	if err == nil {
		t.Fatalf("bootstrap exited 0 without a Runtime API:\n%s", output)
	}
}

// copyTree copies src to dst, leaving out skipDirs.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			if skipDirs[d.Name()] && rel != "." {
				return filepath.SkipDir
			}
			return os.MkdirAll(target, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(path)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		case d.Type().IsRegular():
			return copyFile(path, target)
		}
		return nil // sockets, pipes: not source
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	info, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, info.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
