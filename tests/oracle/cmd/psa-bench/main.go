// Command psa-bench is the native reference of the benchmark: it decodes a multi-document YAML
// stream the way kubectl does (k8s.io/apimachinery's YAML reader, sigs.k8s.io/yaml into typed Pods)
// and evaluates each pod with Pod Security Admission's baseline evaluator, in Go, without Rego.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"

	corev1 "k8s.io/api/core/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
	"sigs.k8s.io/yaml"
)

func main() {
	evaluator, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	lv := api.LevelVersion{Level: api.LevelBaseline, Version: api.LatestVersion()}
	pods, denied, invalid := 0, 0, 0
	for _, path := range os.Args[1:] {
		f, err := os.Open(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		r := utilyaml.NewYAMLReader(bufio.NewReaderSize(f, 64<<10))
		for {
			doc, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
			var pod corev1.Pod
			if err := yaml.Unmarshal(doc, &pod); err != nil {
				invalid++ // a wrongly typed field: the API server would reject it at decoding
				continue
			}
			if pod.Kind == "" {
				continue
			}
			pods++
			res := policy.AggregateCheckResults(evaluator.EvaluatePod(lv, &pod.ObjectMeta, &pod.Spec))
			if !res.Allowed {
				denied++
			}
		}
		f.Close()
	}
	fmt.Printf("%d pods, %d denied by baseline, %d not decodable\n", pods, denied, invalid)
}
