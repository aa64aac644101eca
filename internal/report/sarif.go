package report

import (
	"io"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/owenrumney/go-sarif/v3/pkg/report/v210/sarif"
)

func init() { register("sarif", sarifReporter{}) }

const (
	// sarifSchemaURI is the OASIS SARIF 2.1.0 (errata 01) schema the output conforms to.
	sarifSchemaURI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
	// toolInformationURI is where a reader of a SARIF log learns about hpguard.
	toolInformationURI = "https://github.com/hpguard/hpguard"
	// inputErrorRule is the rule of results for documents that could not be evaluated.
	inputErrorRule = "input-error"
)

// sarifReporter writes a SARIF 2.1.0 log with one run: a reportingDescriptor
// per rule of the profile, a result per finding, and a result of the rule
// "input-error" per document that could not be evaluated.
type sarifReporter struct{}

func (sarifReporter) Write(w io.Writer, r *Report, opts Options) error {
	run := sarif.NewRunWithInformationURI("hpguard", toolInformationURI)
	if opts.ToolVersion != "" {
		run.Tool.Driver.WithVersion(opts.ToolVersion)
	}
	if r.Profile != "" {
		run.WithProperties(sarif.NewPropertyBag().Add("profile", r.Profile))
	}
	for _, rule := range opts.Rules {
		addSARIFRule(run, rule)
	}

	for _, res := range r.Results {
		artifact := sarifArtifactURI(res.File)
		switch res.Status {
		case StatusError:
			if run.GetRuleIndex(inputErrorRule) < 0 {
				addSARIFRule(run, Rule{
					ID:          inputErrorRule,
					Title:       "Input document could not be evaluated",
					Description: "The document could not be read or parsed, or it does not have the shape of its kind, so no rule was evaluated for it.",
					Remediation: "Fix the document so that it is valid YAML or JSON and a well-formed Kubernetes object.",
					Severity:    SeverityDeny,
				})
			}
			run.CreateResultForRule(inputErrorRule).
				WithLevel(sarif.LevelError).
				WithMessage(sarif.NewTextMessage(res.Error)).
				AddLocation(sarifLocation(artifact, res.Line, res, ""))
		case StatusChecked:
			for _, f := range res.Findings {
				if run.GetRuleIndex(f.Rule) < 0 {
					// A finding of a rule the caller did not describe still gets a descriptor.
					addSARIFRule(run, Rule{ID: f.Rule})
				}
				props := sarif.NewPropertyBag().Add("field", f.Field)
				if f.Container != "" {
					props.Add("container", f.Container)
				}
				result := run.CreateResultForRule(f.Rule).
					WithLevel(sarifLevel(f.Severity)).
					WithMessage(sarif.NewTextMessage(f.Message)).
					AddLocation(sarifLocation(artifact, f.EffectiveLine(res), res, f.Field)).
					WithProperties(props)
				if f.Suppressed() && f.Suppression != nil {
					// An in-source suppression (SARIF 2.1.0 §3.35): the annotation in the manifest.
					result.AddSuppression(sarif.NewSuppression().WithKind("inSource").
						WithStatus("accepted").
						WithJustification(f.Suppression.Reason).
						WithProperties(sarif.NewPropertyBag().Add("annotation", f.Suppression.Annotation)))
				}
			}
		}
	}

	log := sarif.NewReport()
	log.Schema = sarifSchemaURI
	log.AddRun(run)
	if err := log.PrettyWrite(w); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// addSARIFRule adds the reportingDescriptor of rule to the run's driver.
func addSARIFRule(run *sarif.Run, rule Rule) {
	d := run.AddRule(rule.ID).WithName(sarifRuleName(rule.ID))
	if rule.Title != "" {
		d.WithShortDescription(sarif.NewMultiformatMessageString().WithText(rule.Title))
	}
	if rule.Description != "" {
		d.WithFullDescription(sarif.NewMultiformatMessageString().WithText(rule.Description))
	}
	if help := sarifHelpText(rule); help != "" {
		d.WithHelp(sarif.NewMultiformatMessageString().WithText(help))
	}
	if u, err := url.Parse(rule.HelpURI); err == nil && u.IsAbs() {
		d.WithHelpURI(rule.HelpURI)
	}
	if rule.Severity != "" {
		d.WithDefaultConfiguration(sarif.NewReportingConfiguration().WithLevel(sarifLevel(rule.Severity)))
	}
}

// sarifHelpText is the rule's remediation followed by its sources.
func sarifHelpText(rule Rule) string {
	var b strings.Builder
	b.WriteString(rule.Remediation)
	if len(rule.Sources) > 0 {
		if b.Len() > 0 {
			b.WriteString("\n\n")
		}
		b.WriteString("Sources:")
		for _, s := range rule.Sources {
			b.WriteString("\n- " + s)
		}
	}
	return b.String()
}

// sarifLevel maps a severity to a SARIF result level.
func sarifLevel(severity string) string {
	switch severity {
	case SeverityDeny:
		return sarif.LevelError
	case SeverityWarn:
		return sarif.LevelWarning
	default:
		return sarif.LevelNote
	}
}

// sarifRuleName turns a rule id such as "host-network-required" into the
// identifier-like name SARIF recommends ("HostNetworkRequired").
func sarifRuleName(id string) string {
	var b strings.Builder
	for _, part := range strings.FieldsFunc(id, func(r rune) bool { return r == '-' || r == '_' || r == '.' || r == ' ' }) {
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	if b.Len() == 0 {
		return id
	}
	return b.String()
}

// sarifArtifactURI turns a file path into a URI reference: relative paths
// stay relative (forward slashes, percent-encoded where needed), absolute
// paths become file URIs.
func sarifArtifactURI(file string) string {
	p := filepath.ToSlash(file)
	if filepath.IsAbs(file) || strings.HasPrefix(p, "/") {
		if !strings.HasPrefix(p, "/") {
			p = "/" + p // a Windows drive path, C:/x -> /C:/x
		}
		return (&url.URL{Scheme: "file", Path: p}).String()
	}
	return (&url.URL{Path: strings.TrimPrefix(p, "./")}).String()
}

// sarifLocation is a result location: the file and line, and the logical
// location "Kind/namespace/name:field" of the object.
func sarifLocation(uri string, line int, r Result, field string) *sarif.Location {
	phys := sarif.NewPhysicalLocation().WithArtifactLocation(sarif.NewSimpleArtifactLocation(uri))
	if line > 0 {
		phys.WithRegion(sarif.NewRegion().WithStartLine(line))
	}
	loc := sarif.NewLocationWithPhysicalLocation(phys)
	var parts []string
	for _, p := range []string{r.Kind, r.Namespace, r.Name} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	name := strings.Join(parts, "/")
	if field != "" {
		if name != "" {
			name += ":"
		}
		name += field
	}
	if name != "" {
		loc.AddLogicalLocation(sarif.NewLogicalLocation().WithFullyQualifiedName(name))
	}
	return loc
}
