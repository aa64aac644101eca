package bundle

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	opabundle "github.com/open-policy-agent/opa/v1/bundle"

	"github.com/hpguard/hpguard"
	"github.com/hpguard/hpguard/internal/engine"
	"github.com/hpguard/hpguard/internal/ruleset"
)

// Load reads a bundle into a policy for engine.NewOPA. With a key the bundle must be signed and
// pass Verify (an unsigned or tampered bundle is refused with a *TamperError); without one, any
// signature is ignored.
func Load(data []byte, key *Key) (*engine.Policy, error) {
	if key != nil {
		if _, err := Verify(data, *key); err != nil {
			return nil, fmt.Errorf("bundle verification failed: %w", err)
		}
	}
	b, err := opabundle.NewReader(bytes.NewReader(data)).WithSkipBundleVerification(true).Read()
	if err != nil {
		return nil, fmt.Errorf("load bundle: %w", err)
	}
	p := &engine.Policy{Modules: map[string]string{}}
	for _, m := range b.Modules {
		p.Modules[strings.TrimPrefix(m.Path, "/")] = string(m.Raw)
	}
	if len(p.Modules) == 0 {
		return nil, fmt.Errorf("load bundle: no Rego modules")
	}
	if p.Data, err = json.Marshal(b.Data); err != nil {
		return nil, fmt.Errorf("load bundle: data: %w", err)
	}
	if p.Ruleset, err = ruleset.Parse(p.Data); err != nil {
		return nil, fmt.Errorf("load bundle: %w", err)
	}
	return p, nil
}

// LoadFile reads the bundle at path (see Load). keyFile, when not empty, is a PEM verification key.
func LoadFile(path, keyFile string) (*engine.Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	key, err := ReadKey(keyFile)
	if err != nil {
		return nil, fmt.Errorf("verification key: %w", err)
	}
	p, err := Load(data, key)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// ReadKey reads a PEM public key file for verification (nil, nil when file is "").
func ReadKey(file string) (*Key, error) {
	if file == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return &Key{PEM: pem}, nil
}

// Embedded loads the bundle embedded in the binary (the committed, generated bundle.tar.gz).
func Embedded() (*engine.Policy, error) {
	data, err := hpguard.Bundle()
	if err != nil {
		return nil, err
	}
	return Load(data, nil)
}
