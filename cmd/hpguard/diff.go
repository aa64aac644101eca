package main

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hpguard/hpguard/generator"
	"github.com/hpguard/hpguard/internal/bundle"
	"github.com/hpguard/hpguard/internal/check"
	"github.com/hpguard/hpguard/internal/diff"
	"github.com/hpguard/hpguard/internal/engine"
	"github.com/hpguard/hpguard/internal/manifest"
	"github.com/hpguard/hpguard/internal/oci"
	"github.com/hpguard/hpguard/internal/report"
)

// defaultGitSpecDir is the spec directory a bare git revision names.
const defaultGitSpecDir = "policies/spec"

type diffParams struct {
	output     string
	profile    string
	keyFile    string
	paramsFile string
	set        []string
	workers    int
	ignore     []string
	configFile string
	limits     manifest.Options

	// Set from the configuration file, as for check (config.go): its profile and workers where no
	// flag was given, its parameters under --params and --set, its ignore patterns beside --ignore.
	configParams engine.Params
	ignores      []ignorePattern
}

func newDiffCmd() *cobra.Command {
	p := diffParams{output: "text", limits: manifest.DefaultOptions()}
	cmd := &cobra.Command{
		Use:   "diff OLD NEW [PATH... | -]",
		Short: "Say what a new revision of the policies changes, in the rules and on your workloads",
		Long: "diff compares two revisions of the policies. OLD and NEW are each a bundle file or oci://REF (signed or not;\n" +
			"verified with --verification-key), a spec directory, a directory of generated policies, or a git\n" +
			"revision of the spec: REV names policies/spec at REV in the repository of the working directory,\n" +
			"REV:DIR another spec directory at REV. It reports rules added and removed, severity changes per\n" +
			"profile, parameter schema and default changes, golden values added and removed, and changed Rego\n" +
			"modules; given manifests (files, directories, - for standard input) it evaluates every workload\n" +
			"under both revisions and reports, per workload and rule, what is newly denied, newly allowed,\n" +
			"newly warned, no longer warned, or reported with another message. The manifests are evaluated\n" +
			"with the configuration file check would use (.hpguard.yaml, or --config): its profile, workers,\n" +
			"parameters and ignore patterns apply to both revisions; a flag wins over its key.\n" +
			"Exit status: 0 no workload's verdict changes, 1 some workload's verdict changes, 2 an error.",
		Example: "  hpguard diff dist/hpguard-1.2.tar.gz dist/hpguard-1.3.tar.gz manifests/\n" +
			"  hpguard diff main policies/spec examples/ -o markdown > diff.md\n" +
			"  hpguard diff v0.1.0 HEAD:policies/spec -o json",
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			// The manifests are evaluated as `hpguard check` evaluates them here: with the same
			// configuration file.
			cp := checkParams{profile: p.profile, workers: p.workers, ignore: p.ignore, configFile: p.configFile}
			if err := configure(cmd.Flags(), &cp); err != nil {
				return usageError(err)
			}
			p.profile, p.workers, p.configParams, p.ignores = cp.profile, cp.workers, cp.configParams, cp.ignores
			return runDiff(cmd.Context(), p, args, cmd.InOrStdin(), cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVarP(&p.output, "output", "o", p.output, "output `FORMAT`: "+strings.Join(diff.Formats, ", "))
	f.StringVar(&p.profile, "profile", "", "`PROFILE` to evaluate the manifests with (default: NEW's default profile)")
	f.StringVar(&p.keyFile, "verification-key", "", "PEM public key `FILE`: bundles must be signed with it and untampered")
	f.StringVar(&p.paramsFile, "params", "", "YAML `FILE` of rule parameters applied to both revisions: {rule-id: {parameter: value}}")
	f.StringArrayVar(&p.set, "set", nil, "set one rule parameter for both revisions: `RULE.PARAMETER=VALUE`; repeatable")
	f.IntVar(&p.workers, "workers", 0, "`N` parallel evaluations (default: number of CPUs)")
	f.StringArrayVar(&p.ignore, "ignore", nil, "leave out paths matching this `GLOB`; repeatable")
	f.StringVar(&p.configFile, "config", "", "configuration `FILE` whose profile, workers, parameters and ignore patterns apply as for check (default: "+configFileName+" in the working directory or above it, up to the repository root)")
	return cmd
}

func runDiff(ctx context.Context, p diffParams, args []string, stdin io.Reader, stdout io.Writer) error {
	if !validFormat(p.output) {
		return usageError(fmt.Errorf("--output %q: want %s", p.output, strings.Join(diff.Formats, ", ")))
	}
	oldSide, err := loadSide(ctx, args[0], p.keyFile)
	if err != nil {
		return usageError(fmt.Errorf("OLD %s: %w", args[0], err))
	}
	newSide, err := loadSide(ctx, args[1], p.keyFile)
	if err != nil {
		return usageError(fmt.Errorf("NEW %s: %w", args[1], err))
	}
	d := &diff.Diff{Version: 1, Old: oldSide, New: newSide}
	d.CompareRules()
	d.Profile = p.profile
	if d.Profile == "" {
		d.Profile = newSide.Policy.Ruleset.DefaultProfile
	}
	if paths := args[2:]; len(paths) > 0 {
		params, err := parseParams(p.configParams, p.paramsFile, p.set)
		if err != nil {
			return usageError(err)
		}
		// Standard input is read once and given to both runs.
		var in []byte
		for _, a := range paths {
			if a == "-" {
				if in, err = io.ReadAll(stdin); err != nil {
					return usageError(fmt.Errorf("read standard input: %w", err))
				}
				break
			}
		}
		reports := make([]*report.Report, 2)
		for i, side := range []diff.Side{oldSide, newSide} {
			if _, err := side.Policy.Ruleset.Profile(d.Profile); err != nil {
				return usageError(fmt.Errorf("--profile: %s: %w", side.Source, err))
			}
			ev, err := engine.New(ctx, "opa", engineSources(side.Policy), d.Profile, params)
			if err != nil {
				if errors.Is(err, engine.ErrParams) {
					return usageError(fmt.Errorf("%s: %w", side.Source, err))
				}
				return err
			}
			pol := side.Policy
			reports[i], err = check.Run(ctx, check.Options{
				Paths: paths, Stdin: bytes.NewReader(in), Evaluator: ev, Profile: d.Profile, Workers: p.workers,
				Limits: p.limits, Ignore: ignoreMatcher(p.ignores),
				KnownRule: func(id string) bool { return pol.Ruleset.Rules[id] != nil },
				Render:    renderFound,
			})
			if err != nil {
				return err
			}
		}
		if err := d.CompareVerdicts(reports[0], reports[1]); err != nil {
			return err
		}
		if check.EmptyRun(reports[1]) && d.Summary.Errors == 0 {
			d.Summary.Errors++
			d.Problems = append(d.Problems, "no document to check in "+strings.Join(paths, " "))
		}
	}
	if err := diff.Write(stdout, p.output, d); err != nil {
		return err
	}
	switch {
	case d.Summary.Errors > 0:
		return &exitError{code: exitError2, err: fmt.Errorf("%s could not be read or evaluated (listed in the report): no verdict is known for them", diff.Plural(d.Summary.Errors, "input"))}
	case d.VerdictsChange():
		return &exitError{code: 1}
	}
	return nil
}

func validFormat(f string) bool {
	for _, v := range diff.Formats {
		if f == v {
			return true
		}
	}
	return f == "md"
}

// loadSide loads one revision: a bundle file, a spec directory, a generated policy directory, or a
// git revision of a spec directory.
func loadSide(ctx context.Context, arg, keyFile string) (diff.Side, error) {
	side := diff.Side{Source: arg}
	pol, err := loadRevision(ctx, arg, keyFile)
	if err != nil {
		return side, err
	}
	side.Policy = pol
	side.Ruleset = pol.Ruleset.Name + " " + pol.Ruleset.Version
	return side, nil
}

func loadRevision(ctx context.Context, arg, keyFile string) (*engine.Policy, error) {
	if ref, ok := oci.TrimScheme(arg); ok {
		return loadOCIBundle(ctx, ref, keyFile)
	}
	st, err := os.Stat(arg)
	switch {
	case err == nil && !st.IsDir():
		return bundle.LoadFile(arg, keyFile)
	case err == nil:
		if keyFile != "" {
			return nil, fmt.Errorf("--verification-key applies to bundles; this is a directory")
		}
		return loadDirRevision(arg)
	case !errors.Is(err, os.ErrNotExist):
		return nil, err
	}
	if keyFile != "" {
		return nil, fmt.Errorf("--verification-key applies to bundles; no file %s", arg)
	}
	return loadGitRevision(ctx, arg)
}

// loadDirRevision reads a spec directory (ruleset.yaml) or a directory of generated policies
// (data.json and Rego).
func loadDirRevision(dir string) (*engine.Policy, error) {
	if _, err := os.Stat(filepath.Join(dir, "ruleset.yaml")); err == nil {
		s, err := generator.LoadDir(dir)
		if err != nil {
			return nil, err
		}
		fsys, err := generator.PolicyFS(s)
		if err != nil {
			return nil, err
		}
		return engine.LoadPolicy(fsys)
	}
	return engine.LoadPolicy(os.DirFS(dir))
}

// loadGitRevision reads REV or REV:DIR from the git repository of the working directory.
func loadGitRevision(ctx context.Context, arg string) (*engine.Policy, error) {
	rev, dir, ok := strings.Cut(arg, ":")
	if !ok {
		dir = defaultGitSpecDir
	}
	dir = strings.Trim(filepath.ToSlash(dir), "/")
	if rev == "" || dir == "" {
		return nil, fmt.Errorf("not a file or directory, and not a git revision (REV or REV:DIR)")
	}
	commit, err := git(ctx, "rev-parse", "--verify", "--quiet", "--end-of-options", rev+"^{commit}")
	if err != nil {
		return nil, fmt.Errorf("not a file or directory, and not a git revision of this repository (REV or REV:DIR): %w", err)
	}
	// DIR is from the top of the repository, as in git show REV:DIR.
	top, err := git(ctx, "rev-parse", "--show-toplevel")
	if err != nil {
		return nil, err
	}
	tarball, err := git(ctx, "-C", strings.TrimSpace(string(top)), "archive", "--format=tar", strings.TrimSpace(string(commit)), "--", dir)
	if err != nil {
		return nil, fmt.Errorf("%s has no %s: %w", rev, dir, err)
	}
	tmp, err := os.MkdirTemp("", "hpguard-diff-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	if err := untar(tarball, tmp); err != nil {
		return nil, fmt.Errorf("%s:%s: %w", rev, dir, err)
	}
	pol, err := loadDirRevision(filepath.Join(tmp, filepath.FromSlash(dir)))
	if err != nil {
		return nil, fmt.Errorf("%s:%s: %w", rev, dir, err)
	}
	return pol, nil
}

// git runs git and returns its standard output; an error carries git's message.
func git(ctx context.Context, args ...string) ([]byte, error) {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return nil, fmt.Errorf("git %s: %s", args[0], msg)
		}
		return nil, fmt.Errorf("git %s: %w", args[0], err)
	}
	return out, nil
}

// untar writes the regular files of a tar stream under dir (git archive output: no links are
// followed, no path leaves dir).
func untar(data []byte, dir string) error {
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		name := filepath.FromSlash(h.Name)
		if !filepath.IsLocal(name) {
			return fmt.Errorf("archive entry %q leaves the directory", h.Name)
		}
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return err
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return err
		}
	}
}
