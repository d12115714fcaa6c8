//go:build tools

// Package tools pins the etcd server the test control plane runs (the version Kubernetes 1.35 is tested with).
package tools

import _ "go.etcd.io/etcd/server/v3"
