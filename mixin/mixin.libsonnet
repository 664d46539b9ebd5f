// The aliyun-cas-exporter monitoring mixin: alert rules and dashboards, with
// the settings in config.libsonnet. docs/alerts.md ("Monitoring mixin") shows how to import it.
(import 'config.libsonnet')
+ (import 'alerts/alerts.libsonnet')
+ (import 'dashboards/dashboards.libsonnet')
