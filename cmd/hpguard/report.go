package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing/fstest"
	"time"

	"github.com/spf13/cobra"

	"github.com/hpguard/hpguard"
	"github.com/hpguard/hpguard/generator"
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
	specDir    string
	policyDir  string
	paramsFile string
	set        []string
	output     string
	profile    string
	engines    []string
	// enginesSet is true when --engines was given (with --spec or --policy the default is opa).
	enginesSet bool
	noCache    bool
}

func newReportCmd() *cobra.Command {
	p := reportParams{output: "html", engines: []string{"opa", "gatekeeper", "kyverno"}}
	cmd := &cobra.Command{
		Use:   "report [flags] [MANIFEST...]",
		Short: "Write the audit report of a policy bundle (HTML or Markdown), with findings when given manifests",
		Long: "report describes a bundle for security reviewers: its identity (revision, signature, file hashes),\n" +
			"every rule with its severity per profile, allowed and disallowed values and sources, and the coverage\n" +
			"matrix of rules x golden cases x engines; given manifests, it adds their findings and a chart by rule.\n" +
			"-o takes a file (the format follows its extension, .html or .md) or a format (html, md) for stdout.",
		Example: "  hpguard report -o report.html\n  hpguard report --bundle bundle.tar.gz --verification-key key.pub -o md examples/",
		RunE: func(cmd *cobra.Command, args []string) error {
			p.enginesSet = cmd.Flags().Changed("engines")
			return runReport(cmd.Context(), p, args, cmd.InOrStdin(), cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&p.bundleFile, "bundle", "", "bundle `FILE` to audit (default: the bundle embedded in hpguard)")
	f.StringVar(&p.keyFile, "verification-key", "", "PEM public key `FILE`: verify the bundle's signature (refuse it when unsigned or tampered)")
	f.StringVarP(&p.output, "output", "o", p.output, "output `FILE` (.html or .md) or format (html, md) for stdout")
	f.StringVar(&p.specDir, "spec", "", "audit the policies compiled from this spec `DIR` in memory, with its own golden cases")
	f.StringVar(&p.policyDir, "policy", "", "audit this `DIR` of Rego produced by hpguard generate")
	f.StringVar(&p.paramsFile, "params", "", "YAML `FILE` of rule parameters for the manifests' findings: {rule-id: {parameter: value}}")
	f.StringArrayVar(&p.set, "set", nil, "set one rule parameter for the manifests' findings: `RULE.PARAMETER=VALUE`; repeatable")
	f.StringVar(&p.profile, "profile", "", "`PROFILE` for the manifests' findings (default: the ruleset's default)")
	f.StringSliceVar(&p.engines, "engines", p.engines, "`ENGINES` of the coverage matrix: "+strings.Join(engine.Names(), ", ")+" (with --spec or --policy: opa, the engine that evaluates them)")
	f.BoolVar(&p.noCache, "no-cache", false, "compute the coverage matrix again instead of reading it from the cache (kept per hpguard build, policy and engines in the user cache directory)")
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
	if p.keyFile != "" && p.bundleFile == "" {
		return usageError(fmt.Errorf("--verification-key needs --bundle"))
	}
	fromSource := p.specDir != "" || p.policyDir != ""
	var info *bundle.Info
	var pol *engine.Policy
	var err error
	if fromSource {
		if pol, err = policySource(p.specDir, p.policyDir, p.bundleFile, p.keyFile); err != nil {
			return usageError(err)
		}
	} else {
		var data []byte
		if p.bundleFile != "" {
			data, err = os.ReadFile(p.bundleFile)
		} else {
			data, err = hpguard.Bundle()
		}
		if err != nil {
			return usageError(err)
		}
		key, err := bundle.ReadKey(p.keyFile)
		if err != nil {
			return usageError(fmt.Errorf("--verification-key: %w", err))
		}
		if info, err = bundle.Inspect(data, key); err != nil {
			return &exitError{code: exitFindings, err: err}
		}
		if pol, err = bundle.Load(data, key); err != nil {
			return &exitError{code: exitFindings, err: err}
		}
	}
	engines := p.engines
	if fromSource && !p.enginesSet {
		engines = []string{"opa"}
	}
	for _, name := range engines {
		k, err := engine.Lookup(name)
		if err != nil {
			return usageError(fmt.Errorf("--engines: %w", err))
		}
		if fromSource && k.Shipped != "" {
			return usageError(fmt.Errorf("--engines %s evaluates %s, not --spec or --policy: leave it out", k.Name, k.Shipped))
		}
	}
	goldenFS, err := reportGolden(p.specDir)
	if err != nil {
		return err
	}
	cases, err := golden.Load(goldenFS)
	if err != nil {
		return fmt.Errorf("%w (run `make generate`)", err)
	}
	params, err := parseParams(nil, p.paramsFile, p.set)
	if err != nil {
		return usageError(err)
	}
	profile := p.profile
	if profile == "" {
		profile = pol.Ruleset.DefaultProfile
	}
	if _, err := pol.Ruleset.Profile(profile); err != nil {
		return usageError(fmt.Errorf("--profile: %w", err))
	}
	generated, err := sourceDate()
	if err != nil {
		return usageError(err)
	}
	v, _ := buildVersion()
	in := audit.Input{Ruleset: pol.Ruleset, Bundle: info, Cases: cases, Engines: engines, Sources: engineSources(pol), Version: v,
		Generated: generated, Inputs: reportInputs(p, engines, profile, params, args)}
	if info != nil && !p.noCache {
		in.CacheDir, in.CacheKey = coverageCache(info.SHA256, goldenFS, engines)
	}
	if len(args) > 0 {
		ev, err := engine.New(ctx, "opa", engineSources(pol), profile, params)
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

// reportGolden is the golden directory of the audited policy: the spec's own cases, generated in
// memory, for --spec; the cases embedded in hpguard otherwise.
func reportGolden(specDir string) (fs.FS, error) {
	if specDir == "" {
		return tests.Golden(), nil
	}
	s, err := generator.LoadDir(specDir)
	if err != nil {
		return nil, usageError(fmt.Errorf("--spec: %w", err))
	}
	files, err := generator.Golden(s)
	if err != nil {
		return nil, usageError(fmt.Errorf("--spec: %w", err))
	}
	m := fstest.MapFS{}
	for _, f := range files {
		m[strings.TrimPrefix(f.Path, generator.GoldenDir+"/")] = &fstest.MapFile{Data: f.Data, Mode: 0o644}
	}
	return m, nil
}

// sourceDate is when the report is made: SOURCE_DATE_EPOCH (seconds since 1970) when set, so that
// the same inputs give the same report, else now.
func sourceDate() (time.Time, error) {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		return time.Now().UTC().Truncate(time.Second), nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %q: want seconds since 1970", s)
	}
	return time.Unix(n, 0).UTC(), nil
}

// reportInputs records what the report was made from.
func reportInputs(p reportParams, engines []string, profile string, params engine.Params, args []string) []audit.Field {
	policy := "the bundle embedded in hpguard"
	switch {
	case p.bundleFile != "":
		policy = "bundle " + p.bundleFile
	case p.specDir != "":
		policy = "spec " + p.specDir + " (compiled in memory; golden cases generated from it)"
	case p.policyDir != "":
		policy = "generated Rego in " + p.policyDir
	}
	key := "none"
	if p.keyFile != "" {
		key = p.keyFile
	}
	ps := "the defaults"
	if len(params) > 0 {
		b, _ := json.Marshal(params)
		ps = string(b)
	}
	manifests := "none"
	if len(args) > 0 {
		manifests = strings.Join(args, " ")
	}
	return []audit.Field{
		{Name: "Policy", Value: policy},
		{Name: "Verification key", Value: key},
		{Name: "Profile (findings)", Value: profile},
		{Name: "Parameters (findings)", Value: ps},
		{Name: "Manifests", Value: manifests},
		{Name: "Engines", Value: strings.Join(engines, ", ")},
	}
}

// coverageCache is where the coverage matrix of a bundle is cached and its key: a hash of this
// hpguard executable (its engines and the artifacts they evaluate), the bundle, the golden cases
// and the engines. No cache ("", "") when the executable cannot be read.
func coverageCache(bundleSHA string, goldenFS fs.FS, engines []string) (string, string) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", ""
	}
	exe, err := os.Executable()
	if err != nil {
		return "", ""
	}
	f, err := os.Open(exe)
	if err != nil {
		return "", ""
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", ""
	}
	index, err := fs.ReadFile(goldenFS, golden.IndexFile)
	if err != nil {
		return "", ""
	}
	fmt.Fprintf(h, "\x00%s\x00%x\x00%s", bundleSHA, sha256.Sum256(index), strings.Join(engines, ","))
	return filepath.Join(dir, "hpguard", "coverage"), hex.EncodeToString(h.Sum(nil))
}
