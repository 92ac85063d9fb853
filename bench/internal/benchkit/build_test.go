package benchkit

import (
	"debug/elf"
	"runtime"
	"strings"
	"testing"
)

// TestBuildPackage builds the minimal function through the Makefile and
// checks it came out the way the Makefile builds functions: a Linux binary
// for the host, stripped.
func TestBuildPackage(t *testing.T) {
	repo, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOARCH", "arm64") // as an outer `make bench` would export; must not leak in
	bin, err := BuildPackage(t.Context(), repo, t.TempDir(), "Minimal", "./bench/minimal")
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[runtime.GOARCH]
	if f.Machine != want {
		t.Errorf("machine %v, want %v (host %s)", f.Machine, want, runtime.GOARCH)
	}
	for _, s := range f.Sections {
		if strings.HasPrefix(s.Name, ".debug") || s.Name == ".symtab" {
			t.Errorf("section %s present: not built with -ldflags='-s -w'", s.Name)
		}
	}
}
