// Package controlplane tests hpguard's artifacts on a real control plane: etcd and kube-apiserver,
// built from their modules at the versions in go.mod, started on loopback by the tests, and kubectl
// built from the same source to run the README's commands.
//
// It is a module of its own so that hpguard's go.mod does not get k8s.io/kubernetes and etcd as
// dependencies; `make controlplane-test` runs it.
package controlplane
