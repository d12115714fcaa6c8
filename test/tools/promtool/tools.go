//go:build tools

// Package tools pins promtool (`promtool check rules`, `promtool test rules`), which the
// monitoring tests run on the shipped PrometheusRule. Built by ../build.sh into .cache/tools/.
package tools

import (
	_ "github.com/prometheus/prometheus/cmd/promtool"
)
