// Package deploy holds wxcas's deployment files, not code: the systemd
// unit, the container image, the Kubernetes example, the Grafana dashboard
// and the Prometheus alerts (docs/deploy.md, docs/metrics.md). Its tests
// check them with the real tools where this machine has them.
package deploy
