// Package buildtest holds the packaging test: it builds every function of
// template.yaml the way `sam build` does with the makefile build method
// (a copy of the tree, `make build-<LogicalId>` with ARTIFACTS_DIR set) and
// checks each bootstrap is a static Linux ELF for the right machine, built
// with the project's flags, small enough for a quick cold start.
package buildtest
