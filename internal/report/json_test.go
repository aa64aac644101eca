package report

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestJSONRoundTrip(t *testing.T) {
	in := testReport()
	out := render(t, "json", in, Options{})
	var back Report
	if err := json.Unmarshal(out, &back); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	// The only difference allowed: findings that were nil come back as [].
	want := testReport()
	for i := range want.Results {
		if want.Results[i].Findings == nil {
			want.Results[i].Findings = []Finding{}
		}
	}
	if !reflect.DeepEqual(&back, want) {
		t.Errorf("JSON round trip changed the report:\n got %+v\nwant %+v", back, *want)
	}
	if !strings.HasSuffix(string(out), "}\n") || strings.HasSuffix(string(out), "\n\n") {
		t.Errorf("output does not end with exactly one newline: %q", out[len(out)-5:])
	}
	if !strings.HasPrefix(string(out), "{\n  \"version\": 1,\n") {
		t.Errorf("output is not indented by two spaces:\n%s", out)
	}
}

func TestJSONFindingsNeverNull(t *testing.T) {
	r := &Report{Version: 1, Results: []Result{
		{File: "a.yaml", Document: 1, Line: 1, Kind: "ConfigMap", Name: "c", Status: StatusSkipped},
		{File: "a.yaml", Document: 2, Line: 5, Status: StatusError, Error: "bad"},
	}}
	out := render(t, "json", r, Options{})
	if strings.Contains(string(out), "null") {
		t.Errorf("output contains null:\n%s", out)
	}
	var raw struct {
		Results []map[string]any `json:"results"`
	}
	if err := json.Unmarshal(out, &raw); err != nil {
		t.Fatal(err)
	}
	for i, res := range raw.Results {
		if f, ok := res["findings"].([]any); !ok || len(f) != 0 {
			t.Errorf("results[%d].findings = %#v, want []", i, res["findings"])
		}
	}

	out = render(t, "json", &Report{Version: 1}, Options{})
	if !strings.Contains(string(out), `"results": []`) {
		t.Errorf("a report without results does not have \"results\": []:\n%s", out)
	}
}
