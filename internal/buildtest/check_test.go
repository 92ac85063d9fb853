package buildtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// TestCheckBootstrapFindsProblems proves checkBootstrap rejects what SAM or
// Lambda would choke on.
func TestCheckBootstrapFindsProblems(t *testing.T) {
	dir := t.TempDir()

	script := filepath.Join(dir, "script")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	// A plain `go build`: no lambda.norpc tag, no -trimpath, symbols kept.
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nfunc main() {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/plain\n\ngo 1.26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	build := exec.CommandContext(t.Context(), "go", "build", "-o", plain, ".")
	build.Dir = dir
	build.Env = append(buildEnv(), "GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	tests := []struct {
		name, path, arch string
		want             []string
	}{
		{"missing", filepath.Join(dir, "nope"), "arm64", []string{"no bootstrap"}},
		{"not executable, not ELF", script, "arm64", []string{"want a regular file with 0755", "not an ELF file"}},
		{"plain go build for the wrong machine", plain, "arm64", []string{
			"ELF machine EM_X86_64", `-tags="", want "lambda.norpc"`, `-trimpath="", want "true"`,
			"has section .symtab", "main module \"example.com/plain\"",
		}},
	}
	if sh, err := exec.LookPath("sh"); err == nil && runtime.GOOS == "linux" {
		if real, err := filepath.EvalSymlinks(sh); err == nil && isDynamic(real) {
			tests = append(tests, struct {
				name, path, arch string
				want             []string
			}{"dynamically linked C program", real, runtime.GOARCH, []string{"has PT_INTERP", "no Go build info"}})
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			problems := checkBootstrap(tt.path, tt.arch)
			for _, want := range tt.want {
				if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, want) }) {
					t.Errorf("problems %q, want one containing %q", problems, want)
				}
			}
		})
	}
}

func isDynamic(path string) bool {
	b, err := os.ReadFile(path)
	return err == nil && strings.Contains(string(b), "ld-linux")
}
