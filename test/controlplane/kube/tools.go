//go:build tools

// Package tools pins the Kubernetes commands the test control plane and the test node are built
// from: the control plane (kube-apiserver, kube-controller-manager, kubectl) and the node
// (kubelet, kube-scheduler, kube-proxy; built only when a node is asked for, see ../build.sh).
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
