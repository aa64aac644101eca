package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"sigs.k8s.io/yaml"

	"github.com/hpguard/hpguard/gatekeeper"
	"github.com/hpguard/hpguard/generator"
	"github.com/hpguard/hpguard/internal/bundle"
	"github.com/hpguard/hpguard/internal/check"
	"github.com/hpguard/hpguard/internal/engine"
	"github.com/hpguard/hpguard/internal/manifest"
	"github.com/hpguard/hpguard/internal/oci"
	"github.com/hpguard/hpguard/internal/report"
	"github.com/hpguard/hpguard/internal/ruleset"
	"github.com/hpguard/hpguard/kyverno"
	"github.com/hpguard/hpguard/vap"
)

type checkParams struct {
	output     string
	reports    []string
	profile    string
	policyDir  string
	specDir    string
	bundleFile string
	keyFile    string
	paramsFile string
	set        []string
	failOn     string
	verbose    bool
	quiet      bool
	color      string
	workers    int
	engine     string
	allowEmpty bool
	limits     manifest.Options
	// configFile is --config; ignore is --ignore; noSuppressions is --no-suppressions.
	configFile     string
	ignore         []string
	noSuppressions bool
	// Set from the configuration file (config.go) and --ignore.
	configParams engine.Params
	ignores      []ignorePattern
	configNote   string
	render       renderParams
	// cluster, when set, reads the objects to check instead of the paths (audit).
	cluster func(ctx context.Context) ([]check.Source, error)
}

func defaultCheckParams() checkParams {
	return checkParams{output: "text", failOn: report.SeverityDeny, color: "auto", engine: "opa", limits: manifest.DefaultOptions()}
}

func newCheckCmd() *cobra.Command {
	p := defaultCheckParams()
	cmd := &cobra.Command{
		Use:   "check [flags] [PATH... | -] [-k DIR]... [--helm-chart CHART]",
		Short: "Check manifests against the HostProcess policies",
		Long: "check reads Kubernetes manifests (files, directories searched recursively for .yaml, .yml and\n" +
			".json, or - for standard input), evaluates every workload with the embedded policies and reports\n" +
			"the findings. Exit status: 0 no failing finding, 1 failing findings, 2 an input or usage error.\n" +
			"Input that holds no document (empty standard input, a directory without manifests) is an input\n" +
			"error unless --allow-empty is given. -k builds a kustomization (as kubectl -k) and --helm-chart\n" +
			"renders a Helm chart (as helm template), offline, and checks the result.",
		Example: "  hpguard check examples/\n  hpguard check -k overlays/prod\n  hpguard check --helm-chart ./chart --values prod.yaml\n  hpguard check -o sarif --profile strict manifests/ > hpguard.sarif",
		Args:    p.render.args,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := configure(cmd.Flags(), &p); err != nil {
				return usageError(err)
			}
			return runCheck(cmd.Context(), p, args, cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	p.evalFlags(f)
	f.BoolVar(&p.allowEmpty, "allow-empty", false, "pass when the input holds no document (empty standard input, a directory without manifests) instead of exiting 2")
	f.StringArrayVar(&p.ignore, "ignore", nil, "leave out paths matching this `GLOB` (** for any directories), relative to the directory argument or the working directory; repeatable")
	f.Int64Var(&p.limits.MaxFileBytes, "max-file-size", p.limits.MaxFileBytes, "largest input file in `BYTES`")
	f.IntVar(&p.limits.MaxDocumentBytes, "max-document-size", p.limits.MaxDocumentBytes, "largest single document in `BYTES`")
	f.IntVar(&p.limits.MaxDepth, "max-depth", p.limits.MaxDepth, "deepest nesting of a document (`LEVELS`)")
	p.render.flags(f)
	return cmd
}

// evalFlags are the flags that check and audit share: the policy, its parameters, the engine and
// the report.
func (p *checkParams) evalFlags(f *pflag.FlagSet) {
	f.StringVarP(&p.output, "output", "o", p.output, "output `FORMAT`: "+strings.Join(report.Names(), ", "))
	f.StringArrayVar(&p.reports, "report", nil, "also write a report to a file, as `FORMAT=FILE` (repeatable; e.g. sarif=hpguard.sarif), from the same run; written only when the run completes")
	f.StringVar(&p.profile, "profile", "", "`PROFILE` to evaluate: baseline, hostprocess or strict (default: the ruleset's default, hostprocess)")
	f.StringVar(&p.policyDir, "policy", "", "`DIR` of Rego produced by hpguard generate (default: the embedded policies)")
	f.StringVar(&p.bundleFile, "bundle", "", "evaluate this OPA bundle `FILE` (built by hpguard bundle build), or oci://REF to pull it from a registry, instead of the embedded one")
	f.StringVar(&p.keyFile, "verification-key", "", "PEM public key `FILE`: the bundle must be signed with it and untampered")
	f.StringVar(&p.specDir, "spec", "", "compile the policies from this spec `DIR` in memory (see hpguard init)")
	f.StringVar(&p.paramsFile, "params", "", "YAML `FILE` of rule parameters: {rule-id: {parameter: value}}")
	f.StringArrayVar(&p.set, "set", nil, "set one rule parameter: `RULE.PARAMETER=VALUE` (value in YAML, e.g. '[a, b]'); repeatable")
	f.StringVar(&p.failOn, "fail-on", p.failOn, "lowest `SEVERITY` that fails the run: deny or warn")
	f.BoolVarP(&p.verbose, "verbose", "v", false, "also list skipped and clean documents")
	f.BoolVarP(&p.quiet, "quiet", "q", false, "no progress output")
	f.StringVar(&p.color, "color", p.color, "colour the text output: `WHEN` is auto, always or never")
	f.StringVar(&p.engine, "engine", p.engine, "evaluation `ENGINE`: opa (the shipped Rego), gatekeeper (the shipped ConstraintTemplates and Constraints in Gatekeeper's engine), gatekeeper-combined (the shipped combined template, one query per profile and severity), cel (the shipped ValidatingAdmissionPolicies in the API server's CEL machinery) or kyverno (the shipped Kyverno ValidatingPolicies, their CEL in the same machinery)")
	f.IntVar(&p.workers, "workers", 0, "`N` parallel evaluations (default: number of CPUs)")
	f.StringVar(&p.configFile, "config", "", "configuration `FILE` (default: "+configFileName+" in the working directory or above it, up to the repository root)")
	f.BoolVar(&p.noSuppressions, "no-suppressions", false, "report every finding as open, ignoring "+check.SuppressPrefix+"<rule-id> annotations (for audits)")
}

// policySource picks the policy: a spec compiled in memory, a generated directory, a bundle file, or
// the bundle embedded in the binary.
func policySource(specDir, policyDir, bundleFile, keyFile string) (*engine.Policy, error) {
	set := 0
	for _, v := range []string{specDir, policyDir, bundleFile} {
		if v != "" {
			set++
		}
	}
	if set > 1 {
		return nil, fmt.Errorf("--spec, --policy and --bundle exclude each other")
	}
	if keyFile != "" && bundleFile == "" {
		return nil, fmt.Errorf("--verification-key needs --bundle")
	}
	if ref, ok := oci.TrimScheme(bundleFile); ok {
		return loadOCIBundle(context.Background(), ref, keyFile)
	}
	if bundleFile != "" {
		return bundle.LoadFile(bundleFile, keyFile)
	}
	if specDir != "" {
		s, err := generator.LoadDir(specDir)
		if err != nil {
			return nil, fmt.Errorf("--spec: %w", err)
		}
		fsys, err := generator.PolicyFS(s)
		if err != nil {
			return nil, fmt.Errorf("--spec: %w", err)
		}
		return engine.LoadPolicy(fsys)
	}
	return loadPolicy(policyDir)
}

// engineSources are the sources of every engine: the policy and the shipped Gatekeeper and
// ValidatingAdmissionPolicy directories.
func engineSources(pol *engine.Policy) engine.Sources {
	return engine.Sources{Policy: pol, Gatekeeper: gatekeeper.FS(), VAP: vap.FS(), Kyverno: kyverno.FS()}
}

// loadPolicy returns the policy from dir, or the bundle embedded in the binary.
func loadPolicy(dir string) (*engine.Policy, error) {
	if dir == "" {
		return bundle.Embedded()
	}
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("--policy: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("--policy %s: not a directory", dir)
	}
	return engine.LoadPolicy(os.DirFS(dir))
}

// tuneGC trades memory for speed within a bound: evaluation allocates many short-lived values, so
// the collector runs less often (GOGC=400) but harder as the heap nears 256 MiB. GOGC and
// GOMEMLIMIT in the environment win.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(256 << 20)
	}
}

// parseParams starts from base (the configuration's parameters), applies --params on top
// (parameter by parameter) and then every --set.
func parseParams(base engine.Params, file string, sets []string) (engine.Params, error) {
	ps := engine.Params{}
	for rule, m := range base {
		ps[rule] = map[string]any{}
		for k, v := range m {
			ps[rule][k] = v
		}
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("--params: %w", err)
		}
		fromFile := engine.Params{}
		if err := yaml.UnmarshalStrict(b, &fromFile); err != nil {
			return nil, fmt.Errorf("--params %s: want {rule-id: {parameter: value}}: %w", file, err)
		}
		for rule, m := range fromFile {
			if ps[rule] == nil {
				ps[rule] = map[string]any{}
			}
			for k, v := range m {
				ps[rule][k] = v
			}
		}
	}
	for _, s := range sets {
		key, raw, ok := strings.Cut(s, "=")
		rule, name, ok2 := strings.Cut(key, ".")
		if !ok || !ok2 || rule == "" || name == "" {
			return nil, fmt.Errorf("--set %q: want rule-id.parameter=value", s)
		}
		var v any
		if err := yaml.Unmarshal([]byte(raw), &v); err != nil {
			return nil, fmt.Errorf("--set %q: value is not YAML: %w", s, err)
		}
		if v == nil && strings.TrimSpace(raw) == "" {
			v = ""
		}
		if ps[rule] == nil {
			ps[rule] = map[string]any{}
		}
		ps[rule][name] = v
	}
	return ps, nil
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

func useColor(mode string, w io.Writer) (bool, error) {
	switch mode {
	case "always":
		return true, nil
	case "never":
		return false, nil
	case "auto":
		if os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
			return false, nil
		}
		return isTerminal(w), nil
	}
	return false, fmt.Errorf("--color %q: want auto, always or never", mode)
}

// reportRules describes the profile's rules for reporters.
func reportRules(rs *ruleset.Ruleset, prof *ruleset.Profile) []report.Rule {
	var out []report.Rule
	for _, id := range prof.ProfileRuleIDs() {
		r := rs.Rules[id]
		if r == nil {
			continue
		}
		rr := report.Rule{ID: id, Title: r.Title, Description: r.Description, Remediation: r.Remediation,
			Severity: prof.Rules[id], HelpURI: "https://github.com/hpguard/hpguard/blob/main/docs/rules.md#" + id}
		for _, s := range r.Sources {
			rr.Sources = append(rr.Sources, s.URL)
		}
		out = append(out, rr)
	}
	return out
}

func runCheck(ctx context.Context, p checkParams, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	reporter, err := report.Get(p.output)
	if err != nil {
		return usageError(err)
	}
	if err := check.ValidateFailOn(p.failOn); err != nil {
		return usageError(err)
	}
	extra, err := parseReports(p.reports)
	if err != nil {
		return usageError(err)
	}
	color, err := useColor(p.color, stdout)
	if err != nil {
		return usageError(err)
	}
	pol, err := policySource(p.specDir, p.policyDir, p.bundleFile, p.keyFile)
	if err != nil {
		return usageError(err)
	}
	profile := p.profile
	if profile == "" {
		profile = pol.Ruleset.DefaultProfile
	}
	prof, err := pol.Ruleset.Profile(profile)
	if err != nil {
		return usageError(fmt.Errorf("--profile: %w", err))
	}
	params, err := parseParams(p.configParams, p.paramsFile, p.set)
	if err != nil {
		return usageError(err)
	}
	kind, err := engine.Lookup(p.engine)
	if err != nil {
		return usageError(fmt.Errorf("--engine: %w", err))
	}
	if kind.Shipped != "" && (p.policyDir != "" || p.specDir != "" || p.bundleFile != "") {
		return usageError(fmt.Errorf("--engine %s evaluates %s; --policy, --spec and --bundle apply to --engine opa", kind.Name, kind.Shipped))
	}
	ev, err := kind.New(ctx, engineSources(pol), profile, params)
	if err != nil {
		if errors.Is(err, engine.ErrParams) {
			return usageError(err)
		}
		return err
	}
	tuneGC()
	if p.verbose && p.configNote != "" {
		fmt.Fprintln(stderr, "hpguard: "+p.configNote)
	}
	sources, allowEmpty := p.render.sources(), p.allowEmpty
	if p.cluster != nil {
		if sources, err = p.cluster(ctx); err != nil {
			return err
		}
		allowEmpty = true // a namespace without workloads passes
	}
	v, _ := buildVersion()
	opts := report.Options{Color: color, Verbose: p.verbose, Rules: append(reportRules(pol.Ruleset, prof), check.SuppressionRules()...),
		ToolVersion: v, FailOn: p.failOn}
	fileOpts := opts
	fileOpts.Color = false
	// Formats that can stream (text, json, tap, github) write each result as it comes, in input
	// order, and the run keeps none; when a report needs them all (SARIF, JUnit), every report is
	// written from the whole at the end.
	out, err := newOutputs(reporter, stdout, opts, extra, fileOpts, profile)
	if err != nil {
		return err
	}
	defer out.discard()
	// Results streamed to a terminal are the progress: no bar drawn over them.
	prog := newProgress(stderr, p.quiet || (out.streams != nil && isTerminal(stdout)))
	rep, err := check.Run(ctx, check.Options{
		Paths: args, Stdin: stdin, Evaluator: ev, Profile: profile, Workers: p.workers, Limits: p.limits,
		Progress: prog.update, AllowEmpty: allowEmpty,
		Ignore: ignoreMatcher(p.ignores), Ignored: func(path, pattern string) {
			if p.verbose {
				fmt.Fprintf(stderr, "hpguard: ignored %s (matches %q)\n", path, pattern)
			}
		},
		KnownRule:      func(id string) bool { return pol.Ruleset.Rules[id] != nil },
		NoSuppressions: p.noSuppressions,
		Sources:        sources,
		Render:         renderFound,
		NoRender:       p.render.noRender,
		OnResult:       out.onResult(),
	})
	prog.finish()
	if err != nil {
		return err
	}
	if err := out.finish(rep); err != nil {
		return err
	}
	if check.EmptyRun(rep) && p.output != "text" {
		// The report says why; say it where a redirected report is not seen.
		names := make([]string, len(args))
		for i, a := range args {
			names[i] = a
			if a == "-" {
				names[i] = "<stdin>"
			}
		}
		return &exitError{code: exitError2, err: fmt.Errorf("no document to check in %s: see the report; pass --allow-empty if that is expected", strings.Join(names, " "))}
	}
	if code := check.ExitCode(rep, p.failOn); code != 0 {
		return &exitError{code: code}
	}
	return nil
}

// extraReport is a --report FORMAT=FILE.
type extraReport struct {
	reporter report.Reporter
	file     string
}

func parseReports(specs []string) ([]extraReport, error) {
	var out []extraReport
	for _, s := range specs {
		format, file, ok := strings.Cut(s, "=")
		if !ok || file == "" {
			return nil, fmt.Errorf("--report %q: want FORMAT=FILE, e.g. sarif=hpguard.sarif", s)
		}
		r, err := report.Get(format)
		if err != nil {
			return nil, fmt.Errorf("--report %q: %w", s, err)
		}
		out = append(out, extraReport{reporter: r, file: file})
	}
	return out, nil
}

// outputs writes the run's report on stdout and its --report files, streaming when every format
// can.
type outputs struct {
	stdout   io.Writer
	reporter report.Reporter
	opts     report.Options
	extra    []extraReport
	fileOpts report.Options
	// streams are the open streams (stdout's first) when streaming; files the --report files
	// being written, renamed into place by finish.
	streams []report.Stream
	files   []*os.File
}

func newOutputs(reporter report.Reporter, stdout io.Writer, opts report.Options, extra []extraReport, fileOpts report.Options, profile string) (*outputs, error) {
	o := &outputs{stdout: stdout, reporter: reporter, opts: opts, extra: extra, fileOpts: fileOpts}
	if report.Streaming(reporter) == nil {
		return o, nil
	}
	for _, x := range extra {
		if report.Streaming(x.reporter) == nil {
			return o, nil
		}
	}
	o.streams = append(o.streams, report.Streaming(reporter).Stream(stdout, profile, opts))
	for _, x := range extra {
		f, err := reportTemp(x.file)
		if err != nil {
			o.discard()
			return nil, err
		}
		o.files = append(o.files, f)
		o.streams = append(o.streams, report.Streaming(x.reporter).Stream(f, profile, fileOpts))
	}
	return o, nil
}

// onResult is check.Options.OnResult: nil unless streaming.
func (o *outputs) onResult() func(report.Result) error {
	if o.streams == nil {
		return nil
	}
	return func(r report.Result) error {
		for i, s := range o.streams {
			if err := s.Result(r); err != nil {
				return o.wrap(i, err)
			}
		}
		return nil
	}
}

// wrap names the output of stream i in a write error.
func (o *outputs) wrap(i int, err error) error {
	if i == 0 {
		return fmt.Errorf("write report: %w", err)
	}
	return fmt.Errorf("--report %s: %w", o.extra[i-1].file, err)
}

// finish ends the streams, or writes the whole report, and moves the --report files into place.
func (o *outputs) finish(rep *report.Report) error {
	if o.streams == nil {
		if err := o.reporter.Write(o.stdout, rep, o.opts); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
		for _, x := range o.extra {
			if err := writeReportFile(x.file, x.reporter, rep, o.fileOpts); err != nil {
				return err
			}
		}
		return nil
	}
	for i, s := range o.streams {
		if err := s.End(rep.Summary); err != nil {
			return o.wrap(i, err)
		}
	}
	for i, f := range o.files {
		if err := placeReport(f, o.extra[i].file); err != nil {
			return err
		}
	}
	o.files = nil
	return nil
}

// discard removes the --report files of a run that did not finish.
func (o *outputs) discard() {
	for _, f := range o.files {
		f.Close()
		os.Remove(f.Name())
	}
	o.files = nil
}

// reportTemp creates the temporary file beside file that a report is written to before it is
// renamed into place, so that a run that fails midway never leaves an empty or partial report
// where a result is expected.
func reportTemp(file string) (*os.File, error) {
	tmp, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".*")
	if err != nil {
		return nil, fmt.Errorf("--report %s: %w", file, err)
	}
	return tmp, nil
}

// placeReport closes a written temporary report and renames it to file.
func placeReport(tmp *os.File, file string) error {
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("--report %s: %w", file, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("--report %s: %w", file, err)
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		return fmt.Errorf("--report %s: %w", file, err)
	}
	return nil
}

// writeReportFile writes a whole report to file through a temporary file (reportTemp).
func writeReportFile(file string, r report.Reporter, rep *report.Report, opts report.Options) error {
	tmp, err := reportTemp(file)
	if err != nil {
		return err
	}
	if err := r.Write(tmp, rep, opts); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("--report %s: %w", file, err)
	}
	return placeReport(tmp, file)
}
