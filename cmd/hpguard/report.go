package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hpguard/hpguard"
	"github.com/hpguard/hpguard/internal/audit"
	"github.com/hpguard/hpguard/internal/bundle"
	"github.com/hpguard/hpguard/internal/check"
	"github.com/hpguard/hpguard/internal/engine"
	"github.com/hpguard/hpguard/internal/golden"
	"github.com/hpguard/hpguard/tests"
)

type reportParams struct {
	bundleFile string
	keyFile    string
	output     string
	profile    string
	engines    []string
}

func newReportCmd() *cobra.Command {
	p := reportParams{output: "html", engines: []string{"opa", "gatekeeper"}}
	cmd := &cobra.Command{
		Use:   "report [flags] [MANIFEST...]",
		Short: "Write the audit report of a policy bundle (HTML or Markdown), with findings when given manifests",
		Long: "report describes a bundle for security reviewers: its identity (revision, signature, file hashes),\n" +
			"every rule with its severity per profile, allowed and disallowed values and sources, and the coverage\n" +
			"matrix of rules x golden cases x engines; given manifests, it adds their findings and a chart by rule.\n" +
			"-o takes a file (the format follows its extension, .html or .md) or a format (html, md) for stdout.",
		Example: "  hpguard report -o report.html\n  hpguard report --bundle bundle.tar.gz --verification-key key.pub -o md examples/",
		RunE: func(cmd *cobra.Command, args []string) error {
			return runReport(cmd.Context(), p, args, cmd.InOrStdin(), cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&p.bundleFile, "bundle", "", "bundle `FILE` to audit (default: the bundle embedded in hpguard)")
	f.StringVar(&p.keyFile, "verification-key", "", "PEM public key `FILE`: verify the bundle's signature (refuse it when unsigned or tampered)")
	f.StringVarP(&p.output, "output", "o", p.output, "output `FILE` (.html or .md) or format (html, md) for stdout")
	f.StringVar(&p.profile, "profile", "", "`PROFILE` for the manifests' findings (default: the ruleset's default)")
	f.StringSliceVar(&p.engines, "engines", p.engines, "`ENGINES` of the coverage matrix: "+strings.Join(engine.Names(), ", "))
	return cmd
}

func runReport(ctx context.Context, p reportParams, args []string, stdin io.Reader, stdout io.Writer) error {
	format, file := p.output, ""
	switch strings.ToLower(filepath.Ext(p.output)) {
	case ".html", ".htm":
		format, file = "html", p.output
	case ".md", ".markdown":
		format, file = "md", p.output
	}
	if format != "html" && format != "md" {
		return usageError(fmt.Errorf("-o %q: want a .html or .md file, or html or md", p.output))
	}
	var data []byte
	var err error
	if p.bundleFile != "" {
		data, err = os.ReadFile(p.bundleFile)
	} else {
		data, err = hpguard.Bundle()
	}
	if err != nil {
		return usageError(err)
	}
	var key *bundle.Key
	if p.keyFile != "" {
		pem, err := os.ReadFile(p.keyFile)
		if err != nil {
			return usageError(fmt.Errorf("--verification-key: %w", err))
		}
		key = &bundle.Key{PEM: pem}
	}
	info, err := bundle.Inspect(data, key)
	if err != nil {
		return &exitError{code: exitFindings, err: err}
	}
	pol, err := bundle.Load(data, key)
	if err != nil {
		return &exitError{code: exitFindings, err: err}
	}
	cases, err := golden.Load(tests.Golden())
	if err != nil {
		return fmt.Errorf("%w (run `make generate`)", err)
	}
	for _, name := range p.engines {
		if _, err := engine.Lookup(name); err != nil {
			return usageError(fmt.Errorf("--engines: %w", err))
		}
	}
	v, _ := buildVersion()
	in := audit.Input{Ruleset: pol.Ruleset, Bundle: info, Cases: cases, Engines: p.engines, Sources: engineSources(pol), Version: v}
	if len(args) > 0 {
		profile := p.profile
		if profile == "" {
			profile = pol.Ruleset.DefaultProfile
		}
		ev, err := engine.New(ctx, "opa", engineSources(pol), profile, nil)
		if err != nil {
			return usageError(err)
		}
		rep, err := check.Run(ctx, check.Options{Paths: args, Stdin: stdin, Evaluator: ev, Profile: profile, Limits: defaultCheckParams().limits, Render: renderFound})
		if err != nil {
			return err
		}
		in.Check = rep
	}
	a, err := audit.Build(ctx, in)
	if err != nil {
		return err
	}
	w := stdout
	if file != "" {
		f, err := os.Create(file)
		if err != nil {
			return usageError(err)
		}
		defer f.Close()
		w = f
	}
	if format == "html" {
		err = a.HTML(w)
	} else {
		err = a.Markdown(w)
	}
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if file != "" {
		fmt.Fprintf(stdout, "wrote %s: %s\n", file, a.Summary())
	}
	return nil
}
