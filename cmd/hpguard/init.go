package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hpguard/hpguard/generator"
	"github.com/hpguard/hpguard/generator/spec"
	"github.com/hpguard/hpguard/policies"
)

const specHeader = `# An hpguard rule spec, started from the built-in one (hpguard init).
# Edit the rules under rules/ and the profiles below, then:
#   hpguard check --spec %s manifests/          # evaluate it directly
#   hpguard generate --spec %s --out <project>  # write Rego, golden cases and docs
# Add a rule with: hpguard new rule <id> --spec %s
`

func newInitCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "init DIR",
		Short: "Write a starter rule spec (a copy of the built-in spec) into DIR",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInit(args[0], cmd.OutOrStdout())
		},
	}
}

func runInit(dir string, stdout io.Writer) error {
	if _, err := os.Stat(filepath.Join(dir, "ruleset.yaml")); err == nil {
		return usageError(fmt.Errorf("%s already holds a spec (ruleset.yaml); choose an empty directory", dir))
	}
	src := policies.Spec()
	n := 0
	err := fs.WalkDir(src, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(src, p)
		if err != nil {
			return err
		}
		if p == "ruleset.yaml" {
			data = append([]byte(fmt.Sprintf(specHeader, dir, dir, dir)), data...)
		}
		out := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return err
		}
		n++
		return os.WriteFile(out, data, 0o644)
	})
	if err != nil {
		return fmt.Errorf("init: %w", err)
	}
	fmt.Fprintf(stdout, "wrote a spec with %d rules to %s\nnext: hpguard new rule <id> --spec %s\n", n-1, dir, dir)
	return nil
}

type newRuleParams struct {
	specDir string
	from    string
}

func newNewCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "new", Short: "Scaffold spec entries"}
	p := newRuleParams{specDir: "policies/spec", from: "hostprocess-disallowed"}
	rule := &cobra.Command{
		Use:   "rule ID",
		Short: "Scaffold a rule file in the spec, starting from an existing rule of the check kind you need",
		Long: "new rule writes <spec>/rules/ID.yaml as a copy of the rule named by --from (its check kind,\n" +
			"arguments, parameters and golden values), renamed to ID, for you to edit. Then add the rule to\n" +
			"the profiles in ruleset.yaml with its severity.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runNewRule(p, args[0], cmd.OutOrStdout())
		},
	}
	rule.Flags().StringVar(&p.specDir, "spec", p.specDir, "spec `DIR`")
	rule.Flags().StringVar(&p.from, "from", p.from, "existing `RULE` to start from (its check kind is reused)")
	cmd.AddCommand(rule)
	return cmd
}

var ruleIDRE = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)

func runNewRule(p newRuleParams, id string, stdout io.Writer) error {
	if !ruleIDRE.MatchString(id) {
		return usageError(fmt.Errorf("rule id %q must be kebab-case, e.g. hostprocess-images-from-our-registry", id))
	}
	out := filepath.Join(p.specDir, "rules", id+".yaml")
	if _, err := os.Stat(out); err == nil {
		return usageError(fmt.Errorf("%s already exists", out))
	}
	s, err := generator.LoadDir(p.specDir)
	if err != nil && !errors.Is(err, spec.ErrInvalid) {
		return usageError(err)
	}
	var srcData []byte
	if s != nil && s.RuleByID(p.from) != nil {
		srcData, err = os.ReadFile(filepath.Join(p.specDir, "rules", p.from+".yaml"))
	} else {
		srcData, err = fs.ReadFile(policies.Spec(), "rules/"+p.from+".yaml")
	}
	if err != nil {
		return usageError(fmt.Errorf("--from %q: no such rule", p.from))
	}
	text := strings.Replace(string(srcData), "id: "+p.from+"\n", "id: "+id+"\n", 1)
	text = "# Scaffolded from " + p.from + " by `hpguard new rule`: edit title, description, remediation,\n" +
		"# sources, the check arguments, parameters and golden values, then add the rule to ruleset.yaml.\n" + text
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(out, []byte(text), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (check kind from %s)\nnext: add `%s: deny` to a profile in %s\n", out, p.from, id, filepath.Join(p.specDir, "ruleset.yaml"))
	return nil
}
