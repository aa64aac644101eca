package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/hpguard/hpguard/generator"
	"github.com/hpguard/hpguard/generator/spec"
	"github.com/hpguard/hpguard/internal/bundle"
	"github.com/hpguard/hpguard/policies"
)

type generateParams struct {
	specDir string
	outDir  string
	check   bool
}

func newGenerateCmd() *cobra.Command {
	p := generateParams{outDir: "."}
	cmd := &cobra.Command{
		Use:   "generate",
		Short: "Generate every artifact (Rego, golden cases, docs) from the rule spec",
		Long: "generate compiles the rule spec into policies/rego, tests/golden and docs/rules.md under --out.\n" +
			"With --check it writes nothing and exits 1 listing the files that differ.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runGenerate(cmd.Context(), p, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&p.specDir, "spec", "", "spec `DIR` (default: policies/spec under --out if present, else the built-in spec)")
	cmd.Flags().StringVar(&p.outDir, "out", p.outDir, "project root `DIR` to write the artifacts under")
	cmd.Flags().BoolVar(&p.check, "check", false, "write nothing; exit 1 and list the files that differ from a fresh generation")
	return cmd
}

func loadSpec(dir string) (*spec.Spec, error) {
	if dir == "" {
		return generator.Load(policies.Spec())
	}
	return generator.LoadDir(dir)
}

func runGenerate(_ context.Context, p generateParams, stdout io.Writer) error {
	dir := p.specDir
	if dir == "" {
		if st, err := os.Stat(p.outDir + "/policies/spec/ruleset.yaml"); err == nil && !st.IsDir() {
			dir = p.outDir + "/policies/spec"
		}
	}
	s, err := loadSpec(dir)
	if err != nil {
		return usageError(err)
	}
	files, err := generator.Generate(s, bundleArtifact)
	if err != nil {
		return err
	}
	if p.check {
		diff, err := generator.Diff(p.outDir, files)
		if err != nil {
			return err
		}
		if len(diff) > 0 {
			for _, d := range diff {
				fmt.Fprintln(stdout, d)
			}
			return &exitError{code: exitFindings, err: fmt.Errorf("%d generated files are out of date: run `make generate`", len(diff))}
		}
		fmt.Fprintf(stdout, "%d generated files are up to date\n", len(files))
		return nil
	}
	if err := generator.Write(p.outDir, files); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "generated %d files from %d rules\n", len(files), len(s.Rules))
	return nil
}

// bundleArtifact derives bundle.tar.gz from the generated policies (a generator.Derive).
func bundleArtifact(files []generator.File) ([]generator.File, error) {
	data, err := bundle.Build(bundleFiles(files), nil)
	if err != nil {
		return nil, fmt.Errorf("build %s: %w", bundle.Path, err)
	}
	return []generator.File{{Path: bundle.Path, Data: data}}, nil
}

// bundleFiles converts generated files into bundle inputs.
func bundleFiles(files []generator.File) []bundle.File {
	in := make([]bundle.File, len(files))
	for i, f := range files {
		in[i] = bundle.File(f)
	}
	return in
}
