package ruleset

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// ValidateValue checks v against a parameter schema (a JSON schema given as a YAML/JSON map). It is
// the one check of parameter values: the spec loader applies it to defaults and golden values, every
// engine to the operator's parameters (ValidateParams).
func ValidateValue(schema map[string]any, v any) error {
	sch, err := compileSchema(schema)
	if err != nil {
		return err
	}
	doc, err := toJSONValue(v)
	if err != nil {
		return err
	}
	if err := sch.Validate(doc); err != nil {
		if ve, ok := err.(*jsonschema.ValidationError); ok {
			return fmt.Errorf("does not match its schema: %s", strings.TrimSpace(flatten(ve)))
		}
		return err
	}
	return nil
}

func compileSchema(schema map[string]any) (*jsonschema.Schema, error) {
	doc, err := toJSONValue(schema)
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("param.json", doc); err != nil {
		return nil, fmt.Errorf("parameter schema: %w", err)
	}
	sch, err := c.Compile("param.json")
	if err != nil {
		return nil, fmt.Errorf("parameter schema: %w", err)
	}
	return sch, nil
}

// toJSONValue converts a decoded YAML value into the generic JSON form the validator expects.
func toJSONValue(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("value is not JSON-compatible: %w", err)
	}
	return jsonschema.UnmarshalJSON(bytes.NewReader(b))
}

var printer = message.NewPrinter(language.English)

func flatten(ve *jsonschema.ValidationError) string {
	if len(ve.Causes) == 0 {
		loc := "/" + strings.Join(ve.InstanceLocation, "/")
		return fmt.Sprintf("at %s: %s", loc, ve.ErrorKind.LocalizedString(printer))
	}
	parts := make([]string, 0, len(ve.Causes))
	for _, c := range ve.Causes {
		parts = append(parts, flatten(c))
	}
	return strings.Join(parts, "; ")
}
