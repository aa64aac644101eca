package tests

import (
	"os"
	"path/filepath"
	"testing"
)

// TestMain removes the hpguard binary hpguardBin built for the run.
func TestMain(m *testing.M) {
	code := m.Run()
	if hpguardBinPath != "" && os.Getenv("HPGUARD_BIN") == "" {
		os.RemoveAll(filepath.Dir(hpguardBinPath))
	}
	os.Exit(code)
}
