package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hpguard/hpguard/generator"
	"github.com/hpguard/hpguard/internal/bundle"
)

func newBundleCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bundle",
		Short: "Build, verify, inspect, push and pull the OPA bundle",
		Long: "bundle builds hpguard's OPA bundle (Rego v1 modules, data.json, .manifest from bundle.tar.gz.tmpl and,\n" +
			"when signed, .signatures.json) reproducibly from the rule spec, verifies a signed bundle offline and\n" +
			"describes a bundle.",
	}
	cmd.AddCommand(newBundleBuildCmd(), newBundleVerifyCmd(), newBundleInspectCmd(), newBundlePushCmd(), newBundlePullCmd())
	return cmd
}

type bundleBuildParams struct {
	output     string
	specDir    string
	signingKey string
	signingAlg string
	keyID      string
	verbose    bool
	outputSet  bool
}

func newBundleBuildCmd() *cobra.Command {
	p := bundleBuildParams{output: bundle.Path}
	cmd := &cobra.Command{
		Use:   "build",
		Short: "Build the OPA bundle from the rule spec (byte-reproducible)",
		Long: "build generates the policies from the spec and writes them as an OPA bundle with OPA's bundle writer.\n" +
			"The same spec gives the same bytes; the revision is a content hash. With --signing-key the bundle\n" +
			"carries .signatures.json (a JWS over every file's hash) that `opa run` and `hpguard bundle verify` check.",
		Example: "  hpguard bundle build -o dist/hpguard.tar.gz\n" +
			"  hpguard bundle build -o dist/hpguard.tar.gz --signing-key private.pem --signing-alg RS256",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p.outputSet = cmd.Flags().Changed("output")
			return runBundleBuild(cmd.Context(), p, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVarP(&p.output, "output", "o", p.output, "bundle `FILE` to write (- for standard output)")
	f.StringVar(&p.specDir, "spec", "", "spec `DIR` (default: policies/spec if present, else the built-in spec)")
	f.StringVar(&p.signingKey, "signing-key", "", "PEM private key `FILE` (RSA, ECDSA or Ed25519) to sign the bundle with")
	f.StringVar(&p.signingAlg, "signing-alg", "", "signature algorithm `ALG`, e.g. RS256 or ES256 (default: from the key type)")
	f.StringVar(&p.keyID, "signing-key-id", bundle.DefaultKeyID, "key `ID` recorded in the signature (OPA's keys.<id> / signing.keyid)")
	f.BoolVarP(&p.verbose, "verbose", "v", false, "report revision, size and build time on standard error")
	return cmd
}

func runBundleBuild(_ context.Context, p bundleBuildParams, stdout, stderr io.Writer) error {
	start := time.Now()
	dir := p.specDir
	if dir == "" {
		if st, err := os.Stat("policies/spec/ruleset.yaml"); err == nil && !st.IsDir() {
			dir = "policies/spec"
		}
	}
	if p.signingKey == "" && (p.signingAlg != "" || p.keyID != bundle.DefaultKeyID) {
		return usageError(errors.New("--signing-alg and --signing-key-id need --signing-key"))
	}
	if p.signingKey != "" && !p.outputSet {
		return usageError(fmt.Errorf("--signing-key needs -o FILE: %s is the committed, unsigned bundle", bundle.Path))
	}
	s, err := loadSpec(dir)
	if err != nil {
		return usageError(err)
	}
	files, err := generator.Generate(s)
	if err != nil {
		return err
	}
	var sign *bundle.SignOptions
	if p.signingKey != "" {
		key, err := os.ReadFile(p.signingKey)
		if err != nil {
			return usageError(fmt.Errorf("--signing-key: %w", err))
		}
		sign = &bundle.SignOptions{Key: key, Alg: p.signingAlg, KeyID: p.keyID}
	}
	data, err := bundle.Build(bundleFiles(files), sign)
	if err != nil {
		return err
	}
	if err := writeBundle(p.output, data, stdout); err != nil || p.output == "-" {
		return err
	}
	info, err := bundle.Inspect(data, nil)
	if err != nil {
		return err
	}
	signed := "unsigned"
	if sign != nil {
		signed = "signed " + info.Signature.Algorithm + " kid=" + info.Signature.KeyID
	}
	fmt.Fprintf(stdout, "wrote %s: revision %s, %d files, %d bytes, %s\n", p.output, info.Revision, len(info.Files), len(data), signed)
	if p.verbose {
		fmt.Fprintf(stderr, "built in %s\n", time.Since(start).Round(time.Millisecond))
	}
	return nil
}

type bundleVerifyParams struct {
	key    string
	alg    string
	output string
}

func newBundleVerifyCmd() *cobra.Command {
	p := bundleVerifyParams{output: "text"}
	cmd := &cobra.Command{
		Use:   "verify --verification-key PEM FILE",
		Short: "Verify a signed bundle's signature and every file's hash",
		Long: "verify checks the bundle's signature with the public key and every file against the hash the signature\n" +
			"records, as OPA does when it activates a bundle, and that the archive is the canonical encoding of those\n" +
			"files, so that no byte of the file can change unnoticed. Exit status: 0 verified, 1 unsigned or tampered\n" +
			"(the message names the file), 2 a usage error.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBundleVerify(cmd.Context(), p, args[0], cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&p.key, "verification-key", "", "PEM public key `FILE` (or certificate) to verify the signature with (required)")
	cmd.Flags().StringVar(&p.alg, "verification-alg", "", "signature algorithm `ALG` to require (default: the signature's, if it fits the key)")
	cmd.Flags().StringVarP(&p.output, "output", "o", p.output, "output `FORMAT`: text or json")
	_ = cmd.MarkFlagRequired("verification-key")
	return cmd
}

func runBundleVerify(_ context.Context, p bundleVerifyParams, file string, stdout io.Writer) error {
	if p.output != "text" && p.output != "json" {
		return usageError(fmt.Errorf("--output %q: want text or json", p.output))
	}
	key, err := os.ReadFile(p.key)
	if err != nil {
		return usageError(fmt.Errorf("--verification-key: %w", err))
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return usageError(err)
	}
	info, err := bundle.Verify(data, bundle.Key{PEM: key, Alg: p.alg})
	var te *bundle.TamperError
	if err != nil && !errors.As(err, &te) {
		return usageError(fmt.Errorf("%s: %w", file, err))
	}
	if p.output == "json" {
		if werr := writeJSON(stdout, verifyResult(file, info, err)); werr != nil {
			return werr
		}
	} else if err == nil {
		fmt.Fprintf(stdout, "%s: verified (revision %s, %s, %d files)\n", file, info.Revision, sigLabel(info), len(info.Files)-1)
	}
	if err != nil {
		return &exitError{code: exitFindings, err: fmt.Errorf("%s: verification failed: %w", file, err)}
	}
	return nil
}

func verifyResult(file string, info *bundle.Info, err error) map[string]any {
	out := map[string]any{"file": file, "verified": err == nil, "revision": info.Revision, "signature": info.Signature}
	if err != nil {
		out["error"] = err.Error()
		var te *bundle.TamperError
		if errors.As(err, &te) && te.File != "" {
			out["tamperedFile"] = te.File
		}
	}
	return out
}

func sigLabel(info *bundle.Info) string {
	s := info.Signature.Status
	if info.Signature.Algorithm != "" {
		s += " " + info.Signature.Algorithm
	}
	if info.Signature.KeyID != "" {
		s += " kid=" + info.Signature.KeyID
	}
	return s
}

type bundleInspectParams struct {
	output string
	key    string
}

func newBundleInspectCmd() *cobra.Command {
	p := bundleInspectParams{output: "text"}
	cmd := &cobra.Command{
		Use:   "inspect FILE",
		Short: "Describe a bundle: revision, roots, signature, rules per profile, file hashes",
		Long: "inspect prints the bundle's revision, roots, Rego version, signature status, every rule with its severity\n" +
			"per profile and every file with its size and SHA-256. With --verification-key it also verifies the\n" +
			"bundle and exits 1 when verification fails.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBundleInspect(cmd.Context(), p, args[0], cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVarP(&p.output, "output", "o", p.output, "output `FORMAT`: text or json")
	cmd.Flags().StringVar(&p.key, "verification-key", "", "PEM public key `FILE`: also verify the bundle")
	return cmd
}

func runBundleInspect(_ context.Context, p bundleInspectParams, file string, stdout io.Writer) error {
	if p.output != "text" && p.output != "json" {
		return usageError(fmt.Errorf("--output %q: want text or json", p.output))
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return usageError(err)
	}
	key, err := bundle.ReadKey(p.key)
	if err != nil {
		return usageError(fmt.Errorf("--verification-key: %w", err))
	}
	info, err := bundle.Inspect(data, key)
	var te *bundle.TamperError
	if err != nil && (key == nil || !errors.As(err, &te)) {
		return usageError(fmt.Errorf("%s: %w", file, err))
	}
	if p.output == "json" {
		if werr := writeJSON(stdout, info); werr != nil {
			return werr
		}
	} else {
		printInspect(stdout, file, info)
	}
	if err != nil {
		return &exitError{code: exitFindings, err: fmt.Errorf("%s: verification failed: %w", file, err)}
	}
	return nil
}

func printInspect(w io.Writer, file string, info *bundle.Info) {
	fmt.Fprintf(w, "Bundle:      %s (%d bytes, sha256 %s)\n", file, info.Size, info.SHA256)
	fmt.Fprintf(w, "Revision:    %s\n", info.Revision)
	fmt.Fprintf(w, "Roots:       %s\n", strings.Join(info.Roots, ", "))
	if info.RegoVersion != nil {
		fmt.Fprintf(w, "Rego:        v%d\n", *info.RegoVersion)
	}
	fmt.Fprintf(w, "Signature:   %s\n", sigLabel(info))
	if info.Signature.Error != "" {
		fmt.Fprintf(w, "             %s\n", info.Signature.Error)
	}
	if len(info.Metadata) > 0 {
		var keys []string
		for k := range info.Metadata {
			if k != "rules" && k != "profiles" {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		fmt.Fprintln(w, "Metadata:")
		for _, k := range keys {
			fmt.Fprintf(w, "  %s: %v\n", k, info.Metadata[k])
		}
	}
	fmt.Fprintf(w, "\nRules (%d):\n", len(info.Rules))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprint(tw, "  RULE")
	for _, p := range info.Profiles {
		fmt.Fprint(tw, "\t"+strings.ToUpper(p))
	}
	fmt.Fprintln(tw)
	for _, r := range info.Rules {
		fmt.Fprint(tw, "  "+r.ID)
		for _, p := range info.Profiles {
			sev := r.Severities[p]
			if sev == "" {
				sev = "-"
			}
			fmt.Fprint(tw, "\t"+sev)
		}
		fmt.Fprintln(tw)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "\nFiles (%d):\n", len(info.Files))
	for _, f := range info.Files {
		fmt.Fprintf(w, "  %-36s %7d  sha256:%s\n", f.Name, f.Size, f.SHA256)
	}
}

// writeBundle writes a bundle to file, creating its directory, or to stdout when file is "-".
func writeBundle(file string, data []byte, stdout io.Writer) error {
	if file == "-" {
		_, err := stdout.Write(data)
		return err
	}
	if dir := filepath.Dir(file); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	return os.WriteFile(file, data, 0o644)
}
